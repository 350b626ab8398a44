import { nullTranslator } from '@jupyterlab/translation';

import { poolText } from '../components/StatusSection';
import { parseStatusReply } from '../status';

// Issue 14: the warm pool in the status reply and the panel's line for it.
const POOL = { ready: 2, capacity: 4, memory_bytes: 80 << 20, memory_budget_bytes: 512 << 20 };

describe('the warm pool in the status', () => {
  it('is read from the reply', () => {
    const reply = parseStatusReply({ version: '0.1.0', engine: null, base_image: null, pool: POOL });
    expect(reply?.pool).toEqual(POOL);
  });

  it.each([null, { ready: 'two' }, 'on'])('is null when it is %p', pool => {
    const reply = parseStatusReply({ version: '0.1.0', engine: null, base_image: null, pool });
    expect(reply).not.toBeNull();
    expect(reply?.pool).toBeNull();
  });

  it('says how many are ready and what they take of the budget', () => {
    const text = poolText(POOL, nullTranslator.load('jupyter_stardock'));
    expect(text).toMatch(/^2 of 4 ready, .+ of a .+ budget$/);
    expect(text).toBe('2 of 4 ready, 80 MiB of a 512 MiB budget'); // uicover fix
  });
});
