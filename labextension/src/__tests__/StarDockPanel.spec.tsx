import { nullTranslator } from '@jupyterlab/translation';
import React, { act } from 'react';
import { createRoot, Root } from 'react-dom/client';

import { StarDockPanel } from '../components/StarDockPanel';
import { StarDockModel } from '../model';
import { HANDSHAKE_SENTENCE, STATUS_READY } from './fakeServer';

// Tells React that updates here are wrapped in act().
(globalThis as any).IS_REACT_ACT_ENVIRONMENT = true;

const trans = nullTranslator.load('jupyter-stardock');

function state(partial: Partial<StarDockModel.IState>): StarDockModel.IState {
  return {
    phase: 'loading',
    status: null,
    message: null,
    refreshing: false,
    updated: null,
    ...partial
  };
}

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
    onRefresh: () => void = () => undefined
  ): void {
    act(() =>
      root.render(
        <StarDockPanel state={state(partial)} trans={trans} onRefresh={onRefresh} />
      )
    );
  }

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
    const banner = host.querySelector('[role="status"]');
    expect(banner?.textContent).toContain('The Docker Engine cannot be reached.');
    expect(host.textContent).toContain('version 0.1.0');
    expect(host.textContent).toContain('not reachable');
  });

  it('shows the handshake sentence as an alert', () => {
    show({ phase: 'server-missing', message: HANDSHAKE_SENTENCE });
    expect(host.querySelector('[role="alert"]')?.textContent).toContain(
      HANDSHAKE_SENTENCE
    );
  });

  it('has a labelled refresh button that calls back', () => {
    const onRefresh = jest.fn();
    show({}, onRefresh);
    const button = host.querySelector<HTMLButtonElement>(
      'button[aria-label="Refresh status"]'
    );
    expect(button).not.toBeNull();
    act(() => button!.click());
    expect(onRefresh).toHaveBeenCalledTimes(1);
  });
});
