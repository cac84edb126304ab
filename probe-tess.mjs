import { createWorker } from 'tesseract.js';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
const req = createRequire(import.meta.url);
const dir = (p) => dirname(req.resolve(p + '/package.json'));
let t = performance.now();
import { readFileSync } from 'node:fs';
const L = (c) => ({ code: c, data: readFileSync(join(dir('@tesseract.js-data/' + c), '4.0.0_best_int', c + '.traineddata.gz')) });
const w = await createWorker(['eng','chi_sim'], 1, { langPath: '/tmp/i22p/tess', cacheMethod: 'none', gzip: true });
console.log('tess load', Math.round(performance.now() - t));
for (const f of ['en', 'zh', 'en', 'zh']) { t = performance.now(); const r = await w.recognize(`/tmp/i22p/${f}.png`); console.log('tess', f, Math.round(performance.now() - t), r.data.confidence, JSON.stringify(r.data.text)); }
await w.terminate();
