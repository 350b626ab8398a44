import { nullTranslator } from '@jupyterlab/translation';

import { actionSentence } from '../pause';
import { routedModel as modelFor } from './fakeServer';

const trans = nullTranslator.load('jupyter_stardock');

describe('issue 17: pause, resume, suspend and restore from the panel', () => {
  const suspended = {
    kernel_id: 'k1',
    kernel_name: 'stardock-abcdef0123456789-m51',
    environment: 'abcdef0123456789',
    dataset: 'm51',
    suspended_at: 1000,
    saved: ['image', 'catalog'],
    skipped: { notes: "an open TextIOWrapper ('/outputs/notes.txt')" }
  };

  it('says what a suspend saved and what it could not', () => {
    const text = actionSentence(trans, 'suspend', suspended);
    expect(text).toBe(
      "Kernel k1 is suspended: saved catalog, image. Not saved: notes (an open TextIOWrapper ('/outputs/notes.txt'))."
    );
  });

  it('restores a suspended kernel and lists the rest', async () => {
    const { model, requests } = modelFor({
      'POST kernels/k1/restore': {
        status: 201,
        body: { id: 'k2', restored_from: 'k1', loaded: ['image'], skipped: {} }
      },
      'GET suspended': { status: 200, body: { suspended: [] } },
      'GET environments': { status: 200, body: { environments: [] } },
      'GET kernels': { status: 200, body: { kernels: [] } },
      'GET archives': { status: 200, body: { archives: [] } },
      'GET builds': { status: 200, body: { builds: [] } }
    });
    await model.kernelAction('k1', 'restore');
    expect(model.state.kernelNotice).toBe('Kernel k1 is restored as kernel k2: loaded image.');
    expect(model.state.suspended).toEqual([]);
    expect(requests.map(r => `${r.method} ${r.path}`)).toContain('POST kernels/k1/restore');
    model.dispose();
  });

  it("shows the server's sentence when an action is refused", async () => {
    const { model } = modelFor({
      'POST kernels/k1/pause': {
        status: 409,
        body: { message: 'Kernel k1 is paused already; resume it to go on working.' }
      },
      'GET suspended': { status: 200, body: { suspended: [suspended] } },
      'GET environments': { status: 200, body: { environments: [] } },
      'GET kernels': { status: 200, body: { kernels: [] } },
      'GET archives': { status: 200, body: { archives: [] } },
      'GET builds': { status: 200, body: { builds: [] } }
    });
    await model.kernelAction('k1', 'pause');
    expect(model.state.kernelNotice).toBe('Kernel k1 is paused already; resume it to go on working.');
    expect(model.state.suspended).toEqual([suspended]);
    model.dispose();
  });
});
