// A second process for compat/core.js: `updateJson` increments of one counter, N times.
import { updateJson } from '../dist/index.js';

const [dest, times] = process.argv.slice(2);
for (let i = 0; i < Number(times); i += 1) {
  await updateJson(dest, (current) => ({ count: current.count + 1 }), { default: { count: 0 } });
}
