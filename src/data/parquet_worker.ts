// Reads a Parquet file in a worker thread for readParquet (parquet.ts): a damaged file can send the
// decoder into a loop or a huge allocation, and a worker can be stopped and have its memory capped
// where the main thread cannot. Posts { rows } or { error }.
import { parentPort, workerData } from 'node:worker_threads';
import { asyncBufferFromFile, parquetReadObjects } from 'hyparquet';

const { path } = workerData as { path: string };
// Concurrent column reads of a damaged file reject more than once; the first is the answer.
process.on('unhandledRejection', (reason) => parentPort!.postMessage({ error: String((reason as Error)?.message ?? reason) }));
try {
  const rows = await parquetReadObjects({ file: await asyncBufferFromFile(path) });
  parentPort!.postMessage({ rows });
} catch (err) {
  parentPort!.postMessage({ error: String((err as Error)?.message ?? err) });
}
