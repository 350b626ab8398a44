import { nullTranslator } from '@jupyterlab/translation';
import React, { act } from 'react';
import { createRoot } from 'react-dom/client';

import { KernelsSection } from '../components/KernelsSection';

(globalThis as any).IS_REACT_ACT_ENVIRONMENT = true;

const trans = nullTranslator.load('jupyter-stardock');

describe('issue 17: the running kernels list pauses, resumes, suspends and restores', () => {
  it('offers resume for a paused kernel and restore for a suspended one', () => {
    const host = document.createElement('div');
    document.body.appendChild(host);
    const root = createRoot(host);
    const onKernelAction = jest.fn();
    const kernel = (id: string, state: string) => ({
      id,
      name: 'stardock-ab-m51',
      environment: 'ab',
      dataset: null,
      outputs: null,
      started: 1,
      state,
      container: 'c0ffee'
    });
    act(() =>
      root.render(
        <KernelsSection
          kernels={[kernel('k1', 'running'), kernel('k2', 'paused')]}
          archives={[]}
          environments={[]}
          apps={[]}
          datasets={[]}
          stopping={[]}
          trans={trans}
          onStop={jest.fn()}
          onShowOutputs={jest.fn()}
          archiveUrl={() => ''}
          suspended={[
            {
              kernel_id: 'k0',
              kernel_name: 'stardock-ab-m51',
              environment: 'ab',
              dataset: null,
              suspended_at: 1,
              saved: ['image'],
              skipped: { notes: 'an open file' }
            }
          ]}
          notice="Kernel k9 runs again."
          onKernelAction={onKernelAction}
        />
      )
    );
    const click = (selector: string, label: string): void => {
      const button = host.querySelector<HTMLButtonElement>(`${selector} button[aria-label^="${label}"]`);
      expect(button).not.toBeNull();
      act(() => button!.click());
    };
    click('[data-kernel="k1"]', 'Pause the kernel');
    click('[data-kernel="k2"]', 'Resume the kernel');
    click('[data-kernel="k1"]', 'Suspend the kernel');
    click('[data-suspended="k0"]', 'Restore the kernel');
    expect(onKernelAction.mock.calls).toEqual([
      ['k1', 'pause'],
      ['k2', 'resume'],
      ['k1', 'suspend'],
      ['k0', 'restore']
    ]);
    expect(host.textContent).toContain('not saved: notes');
    expect(host.textContent).toContain('Kernel k9 runs again.');
    act(() => root.unmount());
    host.remove();
  });
});
