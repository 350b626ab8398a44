import { nullTranslator } from '@jupyterlab/translation';
import React, { act } from 'react';
import { createRoot, Root } from 'react-dom/client';

import { EnvironmentsSection } from '../components/EnvironmentsSection';
import { KernelsSection } from '../components/KernelsSection';
import { IArchive, IEnvironment, ILock } from '../tokens';

(globalThis as { IS_REACT_ACT_ENVIRONMENT?: boolean }).IS_REACT_ACT_ENVIRONMENT = true;
const trans = nullTranslator.load('jupyter-stardock');

const LOCK: ILock = {
  format: 'jupyter-stardock lock 1',
  image_id: 'sha256:1',
  base_image: 'sha256:2',
  debian: { 'python3-astropy': '5.2.1-2' },
  python: { emcee: '3.1.6' },
  r: {}
};

const ENVIRONMENT: IEnvironment = {
  id: 'abcdef0123456789',
  content_hash: 'abcdef',
  image_id: 'sha256:1',
  tags: [],
  recipe: { apps: ['astropy'], commands: [], apt_packages: [], pip_packages: [] },
  apps: ['astropy'],
  size: 1000,
  created: new Date().toISOString(),
  lock: LOCK,
  last_used: Date.now() / 1000
};

describe('issue 17 in the panel', () => {
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

  it('offers a pinned rebuild only for archives that record their versions', () => {
    const locked: IArchive = { id: 'k1', size: 10, manifest: { environment: ENVIRONMENT.id, lock: LOCK } };
    const old: IArchive = { id: 'k0', size: 10, manifest: { environment: ENVIRONMENT.id } };
    const onRebuild = jest.fn();
    act(() =>
      root.render(
        <KernelsSection
          kernels={[]}
          archives={[locked, old]}
          environments={[ENVIRONMENT]}
          apps={null}
          datasets={null}
          stopping={[]}
          trans={trans}
          onStop={jest.fn()}
          onShowOutputs={jest.fn()}
          archiveUrl={a => `/archives/${a.id}`}
          onRebuild={onRebuild}
        />
      )
    );
    const rebuild = (id: string) =>
      host.querySelector<HTMLButtonElement>(`[data-archive="${id}"] button`);
    expect(rebuild('k0')).toBeNull();
    expect(rebuild('k1')!.getAttribute('aria-label')).toContain('every recorded version pinned');
    act(() => rebuild('k1')!.click());
    expect(onRebuild).toHaveBeenCalledWith(locked);
  });

  it('shows when an environment was last used', () => {
    act(() =>
      root.render(
        <EnvironmentsSection
          environments={[ENVIRONMENT]}
          apps={null}
          datasetTitle={null}
          trans={trans}
          onOpen={jest.fn()}
          onEdit={jest.fn()}
          onDelete={jest.fn()}
        />
      )
    );
    expect(host.textContent).toContain('used ');
  });
});
