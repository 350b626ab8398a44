import { StarDockModel } from '../model';
import {
  build,
  ENVIRONMENT,
  eventStream,
  IFakeReply,
  IFakeRequest,
  routedModel as modelFor
} from './fakeServer';

const built: IFakeReply = { status: 200, body: { build: null, environment: ENVIRONMENT } };
const started: IFakeReply = { status: 202, body: { build: build(), environment: null } };

const LOG = eventStream([
  { id: 0, data: 'Step 1/4 : FROM stardock/base' },
  { event: 'progress', data: JSON.stringify(build({ step: 1, progress: 0 })) },
  { id: 1, data: 'Step 2/4 : RUN apt-get install swarp' },
  { event: 'progress', data: JSON.stringify(build({ step: 2, progress: 0.25 })) },
  { id: 2, data: 'Setting up swarp (2.41.5)' },
  { event: 'end', data: JSON.stringify(build({ state: 'succeeded', progress: 1, step: 4, finished: 1030, image_id: 'sha256:feed', environment: ENVIRONMENT })) }
]);

const posts = (requests: IFakeRequest[], path: string) =>
  requests.filter(r => r.method === 'POST' && r.path === path);

describe('StarDockModel: building', () => {
  it('follows the live log to the end, then has the kernelspec ready', async () => {
    const { model, requests } = modelFor({
      'POST builds': started,
      'GET builds/b1/log': LOG
    });
    const ready: StarDockModel.IReady[] = [];
    model.environmentReady.connect((_, r) => ready.push(r));
    const steps: number[] = [];
    model.stateChanged.connect((_, s) => {
      const step = s.build?.record?.step;
      if (step !== undefined && steps[steps.length - 1] !== step) {
        steps.push(step);
      }
    });
    model.updateDraft({ dataset: 'm51', apps: ['swarp'] });

    const result = await model.build();

    expect(result).toEqual({
      recipe: { dataset: 'm51', apps: ['swarp'], commands: [], apt_packages: [], pip_packages: [] },
      environment: 'abcdef0123456789',
      contentHash: ENVIRONMENT.content_hash,
      imageId: 'sha256:feed',
      kernelspec: 'stardock-abcdef0123456789-m51'
    });
    expect(ready).toEqual([result]);
    const view = model.state.build!;
    expect(view.log).toEqual([
      'Step 1/4 : FROM stardock/base',
      'Step 2/4 : RUN apt-get install swarp',
      'Setting up swarp (2.41.5)'
    ]);
    expect(view.record?.state).toBe('succeeded');
    expect(view.record?.progress).toBe(1);
    expect(view.ready).toEqual(result);
    expect(view.error).toBeNull();
    const log = requests.find(r => r.path.startsWith('builds/b1/log'))!;
    expect(log.path).toBe('builds/b1/log?offset=0');
    expect(log.headers.get('Accept')).toBe('text/event-stream');
    // The bar moved with the stream's progress events, and the end event named
    // the kernelspec: nothing else was asked.
    expect(steps).toEqual([0, 1, 2, 4]);
    expect(requests.filter(r => r.path === 'builds/b1')).toEqual([]);
    expect(posts(requests, 'builds')).toHaveLength(1);
    model.dispose();
  });

  it("asks again for this dataset's kernelspec when the build ran for another", async () => {
    // This user asked for the same image with another dataset while it was building.
    const noData = { ...build().recipe, dataset: null };
    const withoutData = { ...ENVIRONMENT, kernelspec: 'stardock-abcdef0123456789' };
    const { model, requests } = modelFor({
      'POST builds': [started, { status: 200, body: { build: null, environment: withoutData } }],
      'GET builds/b1/log': LOG
    });
    const ready = await model.build(noData);
    expect(ready?.kernelspec).toBe('stardock-abcdef0123456789');
    expect(ready?.recipe).toEqual(noData);
    expect(posts(requests, 'builds').map(r => r.body)).toEqual([noData, noData]);
    model.dispose();
  });

  it('says so when a build succeeded but its image is gone', async () => {
    const { model, requests } = modelFor({
      'POST builds': started,
      'GET builds/b1/log': eventStream([
        { event: 'end', data: JSON.stringify(build({ state: 'succeeded', progress: 1 })) }
      ])
    });
    expect(await model.build()).toBeNull();
    expect(model.state.build?.error).toBe(
      'The build finished, but its image is gone. Press Build to build it again.'
    );
    expect(posts(requests, 'builds')).toHaveLength(1);
    model.dispose();
  });

  it('opens an environment that exists at once', async () => {
    const { model, requests } = modelFor({ 'POST builds': built });
    const result = await model.build();
    expect(result?.kernelspec).toBe('stardock-abcdef0123456789-m51');
    expect(model.state.build?.record).toBeNull();
    expect(model.state.build?.ready).toEqual(result);
    expect(requests.filter(r => r.path.includes('log'))).toHaveLength(0);
    model.dispose();
  });

  it('shares one build between overlapping presses', async () => {
    const { model, requests } = modelFor({ 'POST builds': built });
    const [a, b] = await Promise.all([model.build(), model.build()]);
    expect(a).toBe(b);
    expect(posts(requests, 'builds')).toHaveLength(1);
    model.dispose();
  });

  it('resumes the log after the line it last saw when the stream drops', async () => {
    const { model, requests } = modelFor({
      'POST builds': started,
      'GET builds/b1/log': [
        eventStream([{ id: 0, data: 'Step 1/4 : FROM stardock/base' }]),
        eventStream([
          { id: 1, data: 'Step 2/4 : RUN true' },
          {
            event: 'end',
            data: JSON.stringify(build({ state: 'succeeded', progress: 1, environment: ENVIRONMENT }))
          }
        ])
      ]
    });
    await model.build();
    expect(requests.filter(r => r.path.startsWith('builds/b1/log')).map(r => r.path)).toEqual([
      'builds/b1/log?offset=0',
      'builds/b1/log?offset=1'
    ]);
    expect(model.state.build?.log).toHaveLength(2);
    model.dispose();
  });

  it("shows a failed build's sentence and keeps its log", async () => {
    const error = 'Step 2/4 failed: apt-get exited with 100. The log above says why.';
    const { model } = modelFor({
      'POST builds': started,
      'GET builds/b1/log': eventStream([
        { id: 0, data: 'E: Unable to locate package nope' },
        { event: 'end', data: JSON.stringify(build({ state: 'failed', error, progress: 0.25 })) }
      ])
    });
    expect(await model.build()).toBeNull();
    expect(model.state.build?.error).toBe(error);
    expect(model.state.build?.ready).toBeNull();
    expect(model.state.build?.log).toEqual(['E: Unable to locate package nope']);
    model.dispose();
  });

  it('places a refused recipe inline and does not start', async () => {
    const message = 'Extra pip package 1, "-e .", is not a package name.';
    const { model } = modelFor({
      'POST builds': { status: 400, body: { message, reason: 'PolicyError' } }
    });
    model.updateDraft({ pipPackages: '-e .' });
    expect(await model.build()).toBeNull();
    expect(model.state.check.problems).toEqual([{ field: 'pip', line: null, message }]);
    expect(model.state.build?.error).toBe(message);
    model.dispose();
  });

  it('cancels the running build', async () => {
    let release: () => void = () => undefined;
    const held = new Promise<void>(resolve => (release = resolve));
    const cancelled = build({ state: 'cancelled', finished: 1010 });
    const { model, requests } = modelFor({
      'POST builds': started,
      'DELETE builds/b1': { status: 200, body: cancelled },
      // A live stream ends only once the build does.
      'GET builds/b1/log': async () => {
        await held;
        return eventStream([{ event: 'end', data: JSON.stringify(cancelled) }]);
      }
    });
    const done = model.build();
    await new Promise(resolve => setTimeout(resolve, 20));
    expect(model.state.build?.record?.state).toBe('running');
    await model.cancelBuild();
    release();
    expect(await done).toBeNull();
    expect(model.state.build?.error).toBe('The build was cancelled.');
    expect(requests.some(r => r.method === 'DELETE' && r.path === 'builds/b1')).toBe(true);
    model.dispose();
  });

  it('keeps only the newest maxLogLines lines', async () => {
    const lines = Array.from({ length: 12 }, (_, i) => ({ id: i, data: `line ${i}` }));
    const { model } = modelFor(
      {
        'POST builds': started,
        'GET builds/b1/log': eventStream([
          ...lines,
          { event: 'end', data: JSON.stringify(build({ state: 'succeeded', environment: ENVIRONMENT })) }
        ])
      },
      { maxLogLines: 5 }
    );
    await model.build();
    expect(model.state.build?.log).toEqual(['line 7', 'line 8', 'line 9', 'line 10', 'line 11']);
    expect(model.state.build?.dropped).toBe(7);
    model.dispose();
  });

  it('follows a build left running before a reload', async () => {
    const { model } = modelFor({
      'GET builds': {
        status: 200,
        body: { builds: [build({ id: 'b1' }), build({ id: 'b0', state: 'succeeded' })] }
      },
      'GET builds/b1/log': LOG
    });
    await model.resumeBuild();
    const ready = await model.build(); // shares the resumed build
    expect(ready?.environment).toBe('abcdef0123456789');
    expect(model.state.build?.log).toHaveLength(3);
    model.dispose();
  });
});

describe('history and stale results', () => {
  const PIP = 'ERROR: unknown command "instal" - maybe you meant "install"';
  const failedRecord = build({
    state: 'failed',
    recipe: { dataset: null, apps: [], commands: ['pip instal foo'], apt_packages: [], pip_packages: [] },
    error: `Custom command 1 (\`pip instal foo\`) failed with exit code 1. Its last output:\n    ${PIP}`,
    failure: {
      item: 'command 1',
      step: 3,
      steps: 4,
      exit_code: 1,
      summary: 'Custom command 1 (`pip instal foo`) failed with exit code 1.',
      output: [PIP],
      hint: 'Fix that command, then build again.'
    }
  });
  const failedLog = eventStream([
    { id: 0, data: 'Step 3/4 : RUN ["/bin/sh", "-c", "pip instal foo"]' },
    { id: 1, data: PIP },
    { event: 'end', data: JSON.stringify(failedRecord) }
  ]);

  it('reads every build of the user with the lists, whatever started it', async () => {
    const fromCli = build({ id: 'cli1', state: 'succeeded', created: 2000 });
    const { model, requests } = modelFor({
      'GET environments': { status: 200, body: { environments: [] } },
      'GET kernels': { status: 200, body: { kernels: [] } },
      'GET archives': { status: 200, body: { archives: [] } },
      'GET builds': [
        { status: 200, body: { builds: [] } },
        { status: 200, body: { builds: [fromCli] } }
      ]
    });
    await model.refreshLists();
    expect(model.state.builds).toEqual([]);
    await model.refreshLists(); // the next poll, or the panel shown again
    expect(model.state.builds).toEqual([fromCli]);
    expect(requests.filter(r => r.path === 'builds')).toHaveLength(2);
    model.dispose();
  });

  it('clears a failed build once the fields hold another recipe', async () => {
    const { model } = modelFor({
      'POST builds': { status: 202, body: { build: failedRecord, environment: null } },
      'GET builds/b1/log': failedLog,
      'POST dockerfile': { status: 400, body: { message: 'checked' } }
    });
    model.updateDraft({ commands: 'pip instal foo' });
    expect(await model.build()).toBeNull();
    expect(model.state.build?.record?.failure?.item).toBe('command 1');
    model.updateDraft({ commands: 'pip instal foo' }); // the same recipe: kept
    expect(model.state.build?.error).toContain(PIP);
    model.updateDraft({ commands: 'pip install foo' });
    expect(model.state.build).toBeNull();
    model.dispose();
  });

  it('shows a finished build of the history without building anything', async () => {
    const { model, requests } = modelFor({ 'GET builds/b1/log': failedLog });
    expect(await model.showBuild(failedRecord)).toBeNull();
    expect(model.state.build?.log).toEqual([
      'Step 3/4 : RUN ["/bin/sh", "-c", "pip instal foo"]',
      PIP
    ]);
    expect(model.state.build?.error).toContain(PIP);
    expect(model.state.build?.replay).toBe(true);
    const succeeded = build({ id: 'b1', state: 'succeeded' });
    const second = modelFor({
      'GET builds/b1/log': eventStream([{ event: 'end', data: JSON.stringify(succeeded) }])
    });
    expect(await second.model.showBuild(succeeded)).toBeNull();
    // Its environment may be gone: showing it never starts a build.
    expect(second.requests.some(r => r.method === 'POST')).toBe(false);
    expect(requests.some(r => r.method === 'POST')).toBe(false);
    model.dispose();
    second.model.dispose();
  });

  it('never asks to cancel a followed build', async () => {
    let release: () => void = () => undefined;
    const held = new Promise<void>(resolve => (release = resolve));
    const followed = build({ following: true });
    const { model, requests } = modelFor({
      'POST builds': { status: 202, body: { build: followed, environment: null } },
      'GET builds/b1/log': async () => {
        await held;
        return eventStream([{ event: 'end', data: JSON.stringify(build({ state: 'cancelled' })) }]);
      }
    });
    const done = model.build();
    await new Promise(resolve => setTimeout(resolve, 20));
    await model.cancelBuild();
    expect(requests.some(r => r.method === 'DELETE')).toBe(false);
    release();
    await done;
    model.dispose();
  });
});
