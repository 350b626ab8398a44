import { notebookRecipe, pinnedRecipe, readLock, readNotebookRecipe, RecipeKeeper } from '../notebooks';
import { ILock } from '../tokens';

const LOCK: ILock = {
  format: 'jupyter-stardock lock 1',
  image_id: 'sha256:' + 'a'.repeat(64),
  base_image: 'sha256:' + 'b'.repeat(64),
  debian: { 'python3-astropy': '5.2.1-2+deb12u1' },
  python: { emcee: '3.1.6' },
  r: {}
};

const RECIPE = {
  dataset: 'm51',
  apps: ['astropy'],
  commands: ['pip install emcee==3.1.6'],
  apt_packages: [],
  pip_packages: []
};

describe('the lock in notebook metadata (issue 17)', () => {
  it('is written beside the recipe and read back', () => {
    const written = notebookRecipe({
      recipe: RECIPE,
      environment: '0123456789abcdef',
      contentHash: '0123456789abcdef'.repeat(4),
      imageId: LOCK.image_id,
      kernelspec: 'stardock-0123456789abcdef-m51',
      lock: LOCK
    });
    expect(written.lock).toEqual(LOCK);
    const read = readNotebookRecipe(JSON.parse(JSON.stringify(written)));
    expect(read?.lock).toEqual(LOCK);
    expect(read?.recipe.apps).toEqual(['astropy']);
  });

  it('is not taken from something of another shape', () => {
    expect(readLock({ debian: {}, python: {} })).toBeNull();
    expect(readLock('lock')).toBeNull();
    expect(readNotebookRecipe({ environment: 'x', recipe: {}, lock: 3 })?.lock).toBeNull();
  });

  it('pins every recorded version for a rebuild', () => {
    expect(pinnedRecipe(RECIPE, LOCK).pins).toEqual({
      apt: { 'python3-astropy': '5.2.1-2+deb12u1' },
      pip: { emcee: '3.1.6' }
    });
    expect(pinnedRecipe(RECIPE, null)).toBe(RECIPE);
  });
});

// uicover fix: seen in the browser test (tests/ui/test_panel_kernel_actions.py) when a
// busy engine left the StarDock kernelspecs out of one listing.
describe('a notebook opened on its existing environment', () => {
  it('keeps its running kernel when a listing briefly misses the kernelspec', async () => {
    const kernelspec = 'stardock-0123456789abcdef-m51';
    let added: ((sender: unknown, panel: unknown) => void) | null = null;
    const changeKernel = jest.fn();
    const setMetadata = jest.fn();
    const panel = {
      isDisposed: false,
      context: { ready: Promise.resolve(), path: 'beside.ipynb' },
      model: {
        getMetadata: () => ({ environment: '0123456789abcdef', recipe: RECIPE, kernelspec }),
        setMetadata
      },
      sessionContext: { session: { kernel: { name: kernelspec } }, changeKernel }
    };
    const ready = {
      recipe: RECIPE,
      environment: '0123456789abcdef',
      contentHash: '0123456789abcdef'.repeat(4),
      imageId: LOCK.image_id,
      kernelspec,
      lock: LOCK
    };
    const build = jest.fn(async () => ready);
    new RecipeKeeper({
      app: {
        serviceManager: {
          kernelspecs: { refreshSpecs: async () => undefined, specs: { kernelspecs: {} } }
        }
      } as any,
      tracker: { widgetAdded: { connect: (fn: typeof added) => (added = fn) } } as any,
      model: {
        state: { datasets: [{ id: 'm51' }] },
        environmentExists: async () => true,
        build
      } as any,
      trans: { __: (s: string) => s } as any,
      showPanel: () => undefined
    });
    added!(null, panel);
    await new Promise(resolve => setTimeout(resolve, 0));
    expect(build).toHaveBeenCalled();
    expect(changeKernel).not.toHaveBeenCalled();
    expect(setMetadata).toHaveBeenCalled();
  });
});
