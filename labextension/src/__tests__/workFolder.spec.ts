/** issue 18: the notebook's opt-in to its folder at /work, in its metadata. */
import { asksForWork, withWork } from '../workFolder';

describe('the notebook folder opt-in', () => {
  it('is read only from a true "work" in the StarDock metadata', () => {
    expect(asksForWork({ work: true, environment: 'e' })).toBe(true);
    expect(asksForWork({ work: 'yes' })).toBe(false);
    expect(asksForWork(undefined)).toBe(false);
  });

  it('is set and cleared without touching the recorded recipe', () => {
    const recorded = { environment: 'e', recipe: { apps: ['astropy'] } };
    expect(withWork(recorded, true)).toEqual({ ...recorded, work: true });
    expect(withWork({ ...recorded, work: true }, false)).toEqual(recorded);
    expect(withWork(undefined, true)).toEqual({ work: true });
  });
});
