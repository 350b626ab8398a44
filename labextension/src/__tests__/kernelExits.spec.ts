import { ISessionContext } from '@jupyterlab/apputils';
import { Kernel } from '@jupyterlab/services';
import { Signal } from '@lumino/signaling';

import { fetchKernelExit, IKernelExit, KernelExitWatcher } from '../kernelExits';
import { fakeServer } from './fakeServer';

const OOM: IKernelExit = {
  kernel_id: 'k1',
  owner: 'ada',
  reason: 'oom',
  message:
    'The kernel was stopped: memory limit 256 MiB reached. Its variables are lost; use less memory.',
  exit_code: 137,
  at: 1700000000.5,
  container: 'abc123'
};

/** A notebook's session context as far as the watcher looks: its kernel and status. */
function fakeContext(kernelName: string): {
  context: ISessionContext;
  status: Signal<ISessionContext, Kernel.Status>;
} {
  const context = {
    session: { kernel: { id: 'k1', name: kernelName } }
  } as unknown as ISessionContext & { statusChanged: Signal<ISessionContext, Kernel.Status> };
  const status = new Signal<ISessionContext, Kernel.Status>(context);
  (context as { statusChanged: unknown }).statusChanged = status;
  return { context, status };
}

describe('fetchKernelExit', () => {
  it('asks kernels/<id>/exit and gives the record', async () => {
    const { settings, urls } = fakeServer({ status: 200, body: OOM });
    expect(await fetchKernelExit('k1', settings)).toEqual(OOM);
    expect(urls).toEqual(['/user/ada/stardock/api/kernels/k1/exit']);
  });

  it('gives null when the server has no exit of that kernel (404)', async () => {
    const { settings } = fakeServer({ status: 404, body: { message: 'none' } });
    expect(await fetchKernelExit('k1', settings)).toBeNull();
  });
});

describe('KernelExitWatcher', () => {
  it("tells the server's sentence once when a StarDock kernel is restarted by the server", async () => {
    const told: string[] = [];
    const asked: string[] = [];
    const watcher = new KernelExitWatcher({
      fetchExit: async id => {
        asked.push(id);
        return asked.length > 1 ? OOM : null; // nothing noted when the page started watching
      },
      notify: message => told.push(message),
      retryDelay: 0
    });
    const { context, status } = fakeContext('stardock-0123456789abcdef-m51');
    watcher.watch(context);
    watcher.watch(context); // watching twice does not tell twice
    status.emit('busy');
    status.emit('autorestarting');
    await new Promise(resolve => setTimeout(resolve, 0));
    status.emit('dead'); // the same death: already told
    await new Promise(resolve => setTimeout(resolve, 0));
    expect(asked).toEqual(['k1', 'k1', 'k1']);
    expect(told).toEqual([OOM.message]);
  });

  it('does not tell a death the server noted before the page watched', async () => {
    const told: string[] = [];
    const watcher = new KernelExitWatcher({
      fetchExit: async () => OOM,
      notify: message => told.push(message),
      retryDelay: 0
    });
    const { context, status } = fakeContext('stardock-0123456789abcdef-m51');
    watcher.watch(context);
    await new Promise(resolve => setTimeout(resolve, 0));
    status.emit('dead');
    await new Promise(resolve => setTimeout(resolve, 0));
    expect(told).toEqual([]);
  });

  it('says nothing for other kernels or a kernel that stopped as asked', async () => {
    const told: string[] = [];
    const clean: IKernelExit = { ...OOM, reason: 'exit', exit_code: 0, message: 'stopped' };
    const watcher = new KernelExitWatcher({
      fetchExit: async () => clean,
      notify: message => told.push(message),
      retryDelay: 0
    });
    const other = fakeContext('python3');
    watcher.watch(other.context);
    other.status.emit('dead');
    expect(await watcher.check('k1')).toEqual(clean);
    expect(told).toEqual([]);
  });

  it('asks again while the server has no note yet', async () => {
    const replies: (IKernelExit | null)[] = [null, OOM];
    const told: string[] = [];
    const watcher = new KernelExitWatcher({
      fetchExit: async () => replies.shift() ?? null,
      notify: message => told.push(message),
      retryDelay: 0
    });
    expect(await watcher.check('k1')).toEqual(OOM);
    expect(told).toEqual([OOM.message]);
  });
});
