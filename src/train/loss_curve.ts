// A loss-curve picture (SVG, opens in any browser): training loss per step, held-out loss at the
// steps where it was measured.
export interface CurvePoint {
  step: number;
  loss: number;
}

export function lossCurveSvg(train: CurvePoint[], heldOut: CurvePoint[], title: string): string {
  const W = 720;
  const H = 420;
  const m = { l: 64, r: 20, t: 40, b: 48 };
  const all = [...train, ...heldOut].filter((p) => Number.isFinite(p.loss));
  const maxStep = Math.max(1, ...all.map((p) => p.step));
  const minStep = Math.min(...all.map((p) => p.step), 0);
  let lo = Math.min(...all.map((p) => p.loss));
  let hi = Math.max(...all.map((p) => p.loss));
  if (!(hi > lo)) {
    lo -= 0.5;
    hi += 0.5;
  }
  const x = (s: number) => m.l + ((s - minStep) / (maxStep - minStep || 1)) * (W - m.l - m.r);
  const y = (v: number) => m.t + (1 - (v - lo) / (hi - lo)) * (H - m.t - m.b);
  const path = (pts: CurvePoint[]) => pts.filter((p) => Number.isFinite(p.loss)).map((p, i) => `${i ? 'L' : 'M'}${x(p.step).toFixed(1)},${y(p.loss).toFixed(1)}`).join(' ');
  const ticks = Array.from({ length: 5 }, (_, i) => lo + ((hi - lo) * i) / 4);
  const esc = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;');
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="sans-serif" font-size="12">
<rect width="${W}" height="${H}" fill="white"/>
<text x="${W / 2}" y="24" text-anchor="middle" font-size="15">${esc(title)}</text>
<line x1="${m.l}" y1="${H - m.b}" x2="${W - m.r}" y2="${H - m.b}" stroke="black"/>
<line x1="${m.l}" y1="${m.t}" x2="${m.l}" y2="${H - m.b}" stroke="black"/>
${ticks.map((v) => `<text x="${m.l - 6}" y="${y(v) + 4}" text-anchor="end">${v.toFixed(3)}</text><line x1="${m.l}" y1="${y(v)}" x2="${W - m.r}" y2="${y(v)}" stroke="#ddd"/>`).join('\n')}
<text x="${m.l}" y="${H - m.b + 18}" text-anchor="middle">${minStep}</text>
<text x="${W - m.r}" y="${H - m.b + 18}" text-anchor="middle">${maxStep}</text>
<text x="${W / 2}" y="${H - 10}" text-anchor="middle">optimizer step</text>
<text x="16" y="${H / 2}" transform="rotate(-90 16 ${H / 2})" text-anchor="middle">loss</text>
<path d="${path(train)}" fill="none" stroke="#1f77b4" stroke-width="1.5"/>
<path d="${path(heldOut)}" fill="none" stroke="#d62728" stroke-width="2"/>
${heldOut.filter((p) => Number.isFinite(p.loss)).map((p) => `<circle cx="${x(p.step)}" cy="${y(p.loss)}" r="3" fill="#d62728"/>`).join('\n')}
<text x="${W - m.r - 150}" y="${m.t + 14}" fill="#1f77b4">— training loss</text>
<text x="${W - m.r - 150}" y="${m.t + 30}" fill="#d62728">● held-out loss</text>
</svg>
`;
}
