import { nullTranslator } from '@jupyterlab/translation';
import React, { act } from 'react';
import { createRoot, Root } from 'react-dom/client';

import { KernelsSection } from '../components/KernelsSection';
import { IEnvironment, IKernelInfo } from '../tokens';

// Tells React that updates here are wrapped in act().
(globalThis as any).IS_REACT_ACT_ENVIRONMENT = true;

const trans = nullTranslator.load('jupyter-stardock');

function environment(id: string, apps: string[]): IEnvironment {
  return {
    id,
    content_hash: id,
    image_id: 'sha256:1',
    tags: [],
    recipe: { apps, commands: [], apt_packages: [], pip_packages: [] },
    apps,
    size: 1,
    created: new Date().toISOString()
  };
}

function kernel(id: string, env: string, state = 'running'): IKernelInfo {
  return { id, name: `stardock-${env}`, environment: env, state, container: 'c', started: 1 } as IKernelInfo;
}

describe('the terminal and desktop buttons of running kernels', () => {
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

  const buttons = (kernelId: string, start: string) =>
    [...host.querySelectorAll<HTMLButtonElement>(`[data-kernel="${kernelId}"] button`)].filter(b =>
      (b.getAttribute('aria-label') ?? '').startsWith(start)
    );

  it('opens a terminal in any running kernel, a desktop only where the app is', () => {
    const onTerminal = jest.fn();
    const onDesktop = jest.fn();
    const desk = kernel('k-desk', 'e1');
    const plain = kernel('k-plain', 'e2');
    act(() =>
      root.render(
        <KernelsSection
          kernels={[desk, plain, kernel('k-gone', 'e1', 'exited')]}
          archives={[]}
          environments={[environment('e1', ['ds9', 'desktop']), environment('e2', ['swarp'])]}
          apps={[]}
          datasets={[]}
          stopping={[]}
          trans={trans}
          onStop={jest.fn()}
          onShowOutputs={jest.fn()}
          archiveUrl={() => ''}
          onTerminal={onTerminal}
          onDesktop={onDesktop}
        />
      )
    );
    act(() => buttons('k-desk', 'Open a terminal inside the kernel')[0].click());
    expect(onTerminal).toHaveBeenCalledWith(desk);
    act(() => buttons('k-desk', 'Open the desktop of the kernel')[0].click());
    expect(onDesktop).toHaveBeenCalledWith(desk);
    expect(buttons('k-plain', 'Open a terminal inside the kernel')).toHaveLength(1);
    expect(buttons('k-plain', 'Open the desktop of the kernel')).toHaveLength(0);
    expect(buttons('k-gone', 'Open a terminal inside the kernel')[0].disabled).toBe(true);
  });
});
