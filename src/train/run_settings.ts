// What every fine-tuning run (a language model, a sequence or an image classifier) takes beside its
// model, data and outputs: the method, the trainer's options, and how the run is resumed, watched,
// stopped, kept within memory and reported.
import type { AvailableMemory } from '../io/system_memory.js';
import type { TrainCallbacks, TrainOptions } from './trainer.js';

export interface FineTuneRunSettings {
  /** The PEFT method's config (method, rank, target_modules, ...); a classifier's head joins modules_to_save unless the method trains it anyway. */
  method: Record<string, unknown>;
  options: TrainOptions;
  /** The files read, by flag, whose contents a checkpoint fingerprints (TrainRun.inputs). */
  inputs?: Record<string, string | undefined>;
  resume?: boolean;
  callbacks?: TrainCallbacks;
  /** Stops training after the update in progress (TrainRun.signal): the run throws TrainingStopped. */
  signal?: AbortSignal;
  /** The memory the run may use; default what the system has available (memoryBudget). */
  memory?: AvailableMemory;
  /** How a refusal names the settings that would fit: these options (the default), or the CLI's flags (gift train). */
  names?: 'flags' | 'options';
  /** Progress lines (the memory estimate, the load, tokenization counts, the method's parameters). */
  log?: (line: string) => void;
}
