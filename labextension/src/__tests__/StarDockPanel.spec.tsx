import { nullTranslator } from '@jupyterlab/translation';
import React, { act } from 'react';
import { createRoot, Root } from 'react-dom/client';

import { IPanelActions, StarDockPanel } from '../components/StarDockPanel';
import { StarDockModel } from '../model';
import { EMPTY_DRAFT } from '../recipe';
import { IBuild, IEnvironment } from '../tokens';
import { CATALOG, DATASETS, HANDSHAKE_SENTENCE, STATUS_READY } from './fakeServer';

// Tells React that updates here are wrapped in act().
(globalThis as any).IS_REACT_ACT_ENVIRONMENT = true;

const trans = nullTranslator.load('jupyter-stardock');

function state(partial: Partial<StarDockModel.IState>): StarDockModel.IState {
  return { ...StarDockModel.emptyState(), ...partial };
}

function actions(): jest.Mocked<IPanelActions> {
  return {
    refresh: jest.fn(),
    editDraft: jest.fn(),
    toggleApp: jest.fn(),
    build: jest.fn(),
    cancelBuild: jest.fn(),
    showBuild: jest.fn(),
    openNotebook: jest.fn(),
    openConsole: jest.fn(),
    copyText: jest.fn(),
    openEnvironment: jest.fn(),
    editEnvironment: jest.fn(),
    deleteEnvironment: jest.fn(),
    stopKernel: jest.fn(),
    showOutputs: jest.fn(),
    archiveUrl: jest.fn(archive => `/stardock/api/archives/${archive.id}`)
  };
}

const running: IBuild = {
  id: 'b1',
  recipe: { apps: [], commands: [], apt_packages: [], pip_packages: [] },
  content_hash: 'ab',
  environment_id: 'ab',
  tag: 't',
  state: 'running',
  progress: 0.5,
  step: 3,
  steps: 5,
  created: 1,
  started: Date.now() / 1000 - 65,
  finished: null,
  image_id: null,
  error: null,
  environment: null
};

describe('StarDockPanel', () => {
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

  function show(
    partial: Partial<StarDockModel.IState>,
    handlers: IPanelActions = actions()
  ): IPanelActions {
    act(() =>
      root.render(<StarDockPanel state={state(partial)} trans={trans} actions={handlers} />)
    );
    return handlers;
  }

  const button = (label: string) =>
    [...host.querySelectorAll<HTMLButtonElement>('button')].find(
      b => b.textContent === label || b.getAttribute('aria-label') === label
    );

  it('shows versions, storage driver, OS and base image when ready', () => {
    show({ phase: 'ready', status: STATUS_READY });
    const text = host.textContent ?? '';
    expect(text).toContain('version 0.1.0');
    expect(text).toContain('version 27.3.1 (API 1.47)');
    expect(text).toContain('overlay2');
    expect(text).toContain('Debian GNU/Linux 12 (bookworm), x86_64');
    expect(text).toContain('stardock/base:latest (1.2 GB)');
    expect(text).toContain('unix:///var/run/docker.sock');
    expect(host.querySelector('[role="alert"]')).toBeNull();
  });

  it('says how to make a missing base image', () => {
    const hint = 'No base image yet: run `jupyter stardock base`.';
    show({
      phase: 'ready',
      status: {
        ...STATUS_READY,
        base_image: { name: 'stardock/base:latest', exists: false, hint }
      }
    });
    expect(host.textContent).toContain('stardock/base:latest (not built yet)');
    expect(host.textContent).toContain(hint);
  });

  it('shows the version and an unreachable engine when the engine is down', () => {
    show({
      phase: 'engine-down',
      status: { version: '0.1.0', engine: null, base_image: null },
      message: 'The Docker Engine cannot be reached.'
    });
    const banner = host.querySelector('[role="status"].jp-StarDock-banner');
    expect(banner?.textContent).toContain('The Docker Engine cannot be reached.');
    expect(host.textContent).toContain('version 0.1.0');
    expect(host.textContent).toContain('not reachable');
    expect(button('Build')?.disabled).toBe(true);
  });

  it('shows the handshake sentence as an alert', () => {
    show({ phase: 'server-missing', message: HANDSHAKE_SENTENCE });
    expect(host.querySelector('[role="alert"]')?.textContent).toContain(HANDSHAKE_SENTENCE);
  });

  it('warns when the server extension is another version', () => {
    show({ phase: 'ready', status: { ...STATUS_READY, version: '0.2.0' } });
    expect(host.textContent).toContain('server extension is version 0.2.0');
  });

  it('has a labelled refresh button that calls back', () => {
    const handlers = show({});
    act(() => button('Refresh status')!.click());
    expect(handlers.refresh).toHaveBeenCalledTimes(1);
  });

  it('names datasets with their file count and size', () => {
    const handlers = show({ datasets: DATASETS });
    const options = [...host.querySelectorAll('option')].map(o => [o.textContent, o.disabled]);
    expect(options).toEqual([
      ['No dataset', false],
      ['Messier 51 (27 files, 7.3 GB)', false],
      ['Gone (not available)', true]
    ]);
    const select = host.querySelector('select')!;
    expect(host.querySelector(`label[for="${select.id}"]`)).not.toBeNull();
    act(() => {
      select.value = 'm51';
      select.dispatchEvent(new Event('change', { bubbles: true }));
    });
    expect(handlers.editDraft).toHaveBeenCalledWith({ dataset: 'm51' });
  });

  it('groups apps, ticks dependencies with a note, and filters', () => {
    const handlers = show({ apps: CATALOG, draft: { ...EMPTY_DRAFT, apps: ['pyraf'] } });
    const legends = [...host.querySelectorAll('legend')].map(l => l.textContent);
    expect(legends).toEqual(['Image reduction', 'Mosaics and astrometry']);
    const box = (id: string) =>
      host.querySelector<HTMLInputElement>(`[data-app="${id}"] input`)!;
    expect(box('pyraf').checked).toBe(true);
    expect(box('iraf').checked).toBe(true);
    expect(box('iraf').getAttribute('aria-disabled')).toBe('true');
    expect(host.textContent).toContain('IRAF was ticked because PyRAF needs it.');
    expect(host.textContent).toContain('3 selected');

    // A needed app stays ticked; a free one reports the click.
    act(() => box('iraf').click());
    expect(handlers.toggleApp).not.toHaveBeenCalled();
    act(() => box('swarp').click());
    expect(handlers.toggleApp).toHaveBeenCalledWith('swarp', true);

    const filter = host.querySelector<HTMLInputElement>('input[type="search"]')!;
    expect(filter.getAttribute('aria-label')).toBe('Filter apps');
    act(() => {
      const setter = Object.getOwnPropertyDescriptor(HTMLInputElement.prototype, 'value')!.set!;
      setter.call(filter, 'co-add');
      filter.dispatchEvent(new Event('input', { bubbles: true }));
    });
    expect([...host.querySelectorAll('[data-app]')].map(n => n.getAttribute('data-app'))).toEqual(
      ['swarp']
    );
    expect(host.textContent).toContain('3 selected apps are hidden by the filter.');
  });

  it('shows a policy error under the commands with its line, and blocks Build', () => {
    const message = 'Custom command 1 starts with FROM, a Dockerfile instruction.';
    show({
      draft: { ...EMPTY_DRAFT, commands: '\nFROM debian' },
      check: {
        checking: false,
        preview: null,
        problems: [{ field: 'commands', line: 2, message }],
        error: null
      }
    });
    const editor = host.querySelector('textarea')!;
    expect(editor.getAttribute('aria-invalid')).toBe('true');
    const described = host.querySelector(`#${CSS.escape(editor.getAttribute('aria-describedby')!)}`);
    expect(described?.textContent).toBe(`Line 2: ${message}`);
    expect(button('Build')?.disabled).toBe(true);
  });

  it('shows progress, step, elapsed time and Cancel while building', () => {
    const handlers = show({
      build: {
        recipe: running.recipe,
        record: running,
        ready: null,
        log: ['Step 3/5 : RUN apt-get install -y swarp'],
        dropped: 0,
        error: null,
        submitting: false
      }
    });
    const bar = host.querySelector('[role="progressbar"]')!;
    expect(bar.getAttribute('aria-valuenow')).toBe('50');
    expect(host.textContent).toContain('Step 3 of 5 (50 %)');
    expect(host.querySelector('.jp-StarDock-elapsed')?.textContent).toMatch(/^1:0[5-9]$/);
    expect(host.querySelector('.jp-StarDock-logText')?.textContent).toContain('apt-get');
    act(() => button('Cancel')!.click());
    expect(handlers.cancelBuild).toHaveBeenCalled();
    act(() => button('Copy the build log')!.click());
    expect(handlers.copyText).toHaveBeenCalledWith('Step 3/5 : RUN apt-get install -y swarp');
  });

  it('offers a notebook and a console once built', () => {
    const handlers = show({
      build: {
        recipe: running.recipe,
        record: { ...running, state: 'succeeded', progress: 1, finished: running.started! + 90 },
        ready: {
          recipe: running.recipe,
          environment: 'ab',
          contentHash: 'ab',
          imageId: 'sha256:1',
          kernelspec: 'stardock-ab'
        },
        log: [],
        dropped: 0,
        error: null,
        submitting: false
      }
    });
    expect(host.querySelector('[role="progressbar"]')!.getAttribute('aria-valuenow')).toBe('100');
    expect(host.querySelector('.jp-StarDock-elapsed')?.textContent).toBe('1:30');
    act(() => button('Open notebook')!.click());
    act(() => button('Open console')!.click());
    expect(handlers.openNotebook).toHaveBeenCalled();
    expect(handlers.openConsole).toHaveBeenCalled();
  });

  it('lists environments, kernels and archives with their actions', () => {
    const environment: IEnvironment = {
      id: 'abcdef0123456789',
      content_hash: 'abcdef',
      image_id: 'sha256:1',
      tags: [],
      recipe: { apps: ['swarp'], commands: ['echo hi'], apt_packages: [], pip_packages: [] },
      apps: ['swarp'],
      size: 400_000_000,
      created: new Date().toISOString()
    };
    const kernel = {
      id: 'k1',
      name: 'stardock-abcdef0123456789-m51',
      environment: environment.id,
      dataset: 'm51',
      outputs: 'stardock-outputs/k1',
      started: Date.now() / 1000,
      state: 'running',
      container: 'c0ffee'
    };
    const handlers = show({
      apps: CATALOG,
      datasets: DATASETS,
      environments: [environment],
      kernels: [kernel],
      archives: [
        { id: 'k0', size: 2048, manifest: { environment: environment.id, dataset: { id: 'm51', title: 'Messier 51' } } }
      ]
    });
    expect(host.textContent).toContain('SWarp + 1 command');
    expect(host.textContent).toContain('400.0 MB');
    expect(host.textContent).toContain('SWarp + 1 command · Messier 51');
    act(() => button('Open a notebook in SWarp + 1 command')!.click());
    expect(handlers.openEnvironment).toHaveBeenCalledWith(environment);
    act(() => button('Delete SWarp + 1 command')!.click());
    expect(handlers.deleteEnvironment).toHaveBeenCalledWith(environment);
    act(() => button('Show the outputs folder stardock-outputs/k1')!.click());
    expect(handlers.showOutputs).toHaveBeenCalledWith(kernel);
    act(() => button('Stop the kernel SWarp + 1 command · Messier 51 and archive its outputs')!.click());
    expect(handlers.stopKernel).toHaveBeenCalledWith(kernel);
    const link = host.querySelector<HTMLAnchorElement>('[data-archive="k0"] a')!;
    expect(link.getAttribute('href')).toBe('/stardock/api/archives/k0');
    expect(link.getAttribute('aria-label')).toContain('Download the archive');
  });

  describe('a failed build', () => {
    const PIP = 'ERROR: unknown command "instal" - maybe you meant "install"';
    const recipe = {
      dataset: null,
      apps: [],
      commands: ['echo a', 'pip instal foo'],
      apt_packages: [],
      pip_packages: []
    };
    const failed: IBuild = {
      ...running,
      id: 'f1',
      recipe,
      state: 'failed',
      finished: running.started! + 20,
      error: `Custom command 2 (\`pip instal foo\`) failed with exit code 1. Its last output:\n    ${PIP}\nFix that command, then build again.`,
      failure: {
        item: 'command 2',
        step: 5,
        steps: 13,
        exit_code: 1,
        summary: 'Custom command 2 (`pip instal foo`) failed with exit code 1.',
        output: [PIP],
        hint: 'Fix that command, then build again.'
      }
    };
    const view = (commands: string): Partial<StarDockModel.IState> => ({
      phase: 'ready',
      status: STATUS_READY,
      draft: { ...EMPTY_DRAFT, commands },
      build: {
        recipe,
        record: failed,
        ready: null,
        log: [],
        dropped: 0,
        error: failed.error,
        submitting: false
      },
      builds: [failed]
    });

    it('marks the failing line of the commands with the step\'s own output', () => {
      // A blank line in the editor: command 2 is on line 3.
      show(view('echo a\n\npip instal foo'));
      const marked = host.querySelector('.jp-StarDock-problems .jp-StarDock-problem[data-line="3"]');
      expect(marked?.textContent).toContain('Line 3:');
      expect(marked?.textContent).toContain(PIP);
      expect(host.querySelector('textarea')?.getAttribute('aria-invalid')).toBe('true');
      // The failure does not block pressing Build again (a mirror may have been down).
      expect(button('Build')?.disabled).toBe(false);
      expect(host.querySelector('.jp-StarDock-buildError')?.textContent).toContain(PIP);
    });

    it('marks nothing once the commands changed', () => {
      show(view('echo a\npip install foo'));
      expect(host.querySelector('.jp-StarDock-problems')).toBeNull();
      expect(host.querySelector('textarea')?.getAttribute('aria-invalid')).toBeNull();
    });

    it('lists every build in the history, and shows one on request', () => {
      const other: IBuild = { ...running, id: 'c2', created: 5, recipe: { ...recipe, commands: [] } };
      const handlers = show({ ...view(''), builds: [failed, other] });
      const items = [...host.querySelectorAll('.jp-StarDock-history [data-build]')];
      expect(items.map(i => i.getAttribute('data-build'))).toEqual(['c2', 'f1']);
      const item = host.querySelector('[data-build="f1"]')!;
      expect(item.textContent).toContain('failed');
      expect(item.textContent).toContain('Custom command 2 (`pip instal foo`) failed with exit code 1.');
      act(() => button('Show the log of build f1 (Base image + 2 commands)')!.click());
      expect(handlers.showBuild).toHaveBeenCalledWith(failed);
    });
  });

  it('lets a follower see the build but not cancel it', () => {
    const followed: IBuild = { ...running, following: true };
    show({
      phase: 'ready',
      status: STATUS_READY,
      build: {
        recipe: running.recipe,
        record: followed,
        ready: null,
        log: [],
        dropped: 0,
        error: null,
        submitting: false
      }
    });
    const cancel = button('Cancel')!;
    expect(cancel.disabled).toBe(true);
    expect(cancel.title).toContain('only the user who started it can cancel it');
  });
});
