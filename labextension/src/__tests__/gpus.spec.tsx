/** issue 18: the GPU opt-in of an environment, in the recipe and in the Build section. */
import { nullTranslator } from '@jupyterlab/translation';
import React, { act } from 'react';
import { createRoot, Root } from 'react-dom/client';

import { BuildSection } from '../components/BuildSection';
import { draftToRecipe, EMPTY_DRAFT, recipeToDraft, sameRecipe } from '../recipe';

(globalThis as any).IS_REACT_ACT_ENVIRONMENT = true;

const trans = nullTranslator.load('jupyter-stardock');
const LABEL = 'Kernels of this environment use GPUs';

describe('the GPU opt-in', () => {
  let host: HTMLDivElement;
  let root: Root;

  beforeEach(() => {
    host = document.createElement('div');
    document.body.appendChild(host);
    root = createRoot(host);
  });

  afterEach(() => {
    act(() => root.unmount());
    host.remove();
  });

  function show(gpus: boolean, gpuRuntime: boolean, onGpus = jest.fn()): jest.Mock {
    act(() =>
      root.render(
        <BuildSection
          build={null}
          blocked={null}
          changed={false}
          trans={trans}
          onBuild={jest.fn()}
          onCancel={jest.fn()}
          onOpenNotebook={jest.fn()}
          onOpenConsole={jest.fn()}
          onCopyLog={jest.fn()}
          gpus={gpus}
          gpuRuntime={gpuRuntime}
          onGpus={onGpus}
        />
      )
    );
    return onGpus;
  }

  it('is written into the recipe only when on, and read back', () => {
    expect(draftToRecipe(EMPTY_DRAFT)).not.toHaveProperty('gpus');
    const recipe = draftToRecipe({ ...EMPTY_DRAFT, gpus: true });
    expect(recipe.gpus).toBe(true);
    expect(recipeToDraft(recipe).gpus).toBe(true);
    expect(sameRecipe(recipe, draftToRecipe(EMPTY_DRAFT))).toBe(false);
  });

  it('is a checkbox where the engine offers a GPU runtime', () => {
    const onGpus = show(false, true);
    const box = host.querySelector('.jp-StarDock-gpus input') as HTMLInputElement;
    expect(host.querySelector('.jp-StarDock-gpus label')?.textContent).toContain(LABEL);
    act(() => box.click());
    expect(onGpus).toHaveBeenCalledWith(true);
    expect(host.textContent).not.toContain('offers no GPU runtime');
  });

  it('says so when a recipe asks for GPUs on an engine without a runtime', () => {
    show(true, false);
    expect(host.textContent).toContain('This engine offers no GPU runtime');
  });

  it('stays out of the way on an engine without GPUs', () => {
    show(false, false);
    expect(host.querySelector('.jp-StarDock-gpus')).toBeNull();
  });
});
