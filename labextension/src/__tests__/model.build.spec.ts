import { kernelspecName, StarDockModel } from '../model';
import { ResponseError } from '../request';
import { IBuild, IEnvironment } from '../tokens';
import {
  CATALOG,
  DATASETS,
  eventStream,
  IFakeReply,
  IFakeRequest,
  routedServer
} from './fakeServer';

type Routes = Parameters<typeof routedServer>[0];

function modelFor(routes: Routes, options: Partial<StarDockModel.IOptions> = {}) {
  const server = routedServer(routes);
  const model = new StarDockModel({
    refreshInterval: 0,
    checkDelay: 0,
    serverSettings: server.settings,
    ...options
  });
  return { model, requests: server.requests };
}

function build(partial: Partial<IBuild> = {}): IBuild {
  return {
    id: 'b1',
    recipe: { dataset: 'm51', apps: ['swarp'], commands: [], apt_packages: [], pip_packages: [] },
    content_hash: 'abcdef0123456789' + '0'.repeat(48),
    environment_id: 'abcdef0123456789',
    tag: 'stardock/env:abcdef0123456789',
    state: 'running',
    progress: 0,
    step: 0,
    steps: 4,
    created: 1000,
    started: 1001,
    finished: null,
    image_id: null,
    error: null,
    ...partial
  };
}

const ENVIRONMENT: IEnvironment = {
  id: 'abcdef0123456789',
  content_hash: 'abcdef0123456789' + '0'.repeat(48),
  image_id: 'sha256:feed',
  tags: ['stardock/env:abcdef0123456789'],
  recipe: { apps: ['swarp'], commands: [], apt_packages: [], pip_packages: [] },
  apps: ['swarp'],
  size: 400_000_000,
  created: '2026-11-22T10:00:00Z',
  kernelspec: 'stardock-abcdef0123456789-m51'
};

const built: IFakeReply = { status: 200, body: { build: null, environment: ENVIRONMENT } };
const started: IFakeReply = { status: 202, body: { build: build(), environment: null } };

const LOG = eventStream([
  { id: 0, data: 'Step 1/4 : FROM stardock/base' },
  { id: 1, data: 'Step 2/4 : RUN apt-get install swarp' },
  { id: 2, data: 'Setting up swarp (2.41.5)' },
  { event: 'end', data: JSON.stringify(build({ state: 'succeeded', progress: 1, step: 4, finished: 1030, image_id: 'sha256:feed' })) }
]);

const posts = (requests: IFakeRequest[], path: string) =>
  requests.filter(r => r.method === 'POST' && r.path === path);

describe('StarDockModel: catalog and recipe check', () => {
  it('reads datasets and apps', async () => {
    const { model } = modelFor({
      'GET datasets': { status: 200, body: { datasets: DATASETS } },
      'GET apps': { status: 200, body: { apps: CATALOG, problems: ['x.toml: broken'] } }
    });
    await model.loadCatalog();
    expect(model.state.datasets).toEqual(DATASETS);
    expect(model.state.apps).toEqual(CATALOG);
    expect(model.state.catalogProblems).toEqual(['x.toml: broken']);
    expect(model.state.catalogError).toBeNull();
    model.dispose();
  });

  it('says why the catalog could not be read', async () => {
    const { model } = modelFor({
      'GET datasets': { status: 200, body: { datasets: DATASETS } },
      'GET apps': { status: 500, body: { message: 'The catalog folder is unreadable.' } }
    });
    await model.loadCatalog();
    expect(model.state.datasets).toEqual(DATASETS);
    expect(model.state.apps).toBeNull();
    expect(model.state.catalogError).toBe('The catalog folder is unreadable.');
    model.dispose();
  });

  it('checks the recipe once the typing stops and shows the Dockerfile', async () => {
    jest.useFakeTimers();
    const preview = {
      dockerfile: 'FROM base\nRUN echo hi\n',
      content_hash: 'ab',
      environment_id: 'ab',
      tag: 't',
      apps: ['iraf', 'pyraf'],
      added_dependencies: { iraf: ['pyraf'] },
      exists: false
    };
    const { model, requests } = modelFor(
      { 'POST dockerfile': { status: 200, body: preview } },
      { checkDelay: 400 }
    );
    model.updateDraft({ commands: 'e' });
    model.updateDraft({ commands: 'echo hi' });
    model.toggleApp('pyraf', true);
    expect(model.state.check.checking).toBe(true);
    await jest.advanceTimersByTimeAsync(300);
    expect(requests).toHaveLength(0);
    await jest.advanceTimersByTimeAsync(200);
    expect(requests).toHaveLength(1);
    expect(requests[0].body).toEqual({
      dataset: null,
      apps: ['pyraf'],
      commands: ['echo hi'],
      apt_packages: [],
      pip_packages: []
    });
    expect(model.state.check).toEqual({
      checking: false,
      preview,
      problems: [],
      error: null
    });
    jest.useRealTimers();
    model.dispose();
  });

  it("places the server's policy error on the command's line", async () => {
    const message =
      'Custom command 2 starts with FROM, a Dockerfile instruction; only shell commands can be used here.';
    const { model } = modelFor({
      'POST dockerfile': { status: 400, body: { message, reason: 'PolicyError' } }
    });
    model.updateDraft({ commands: 'echo ok\n\nFROM debian' });
    await model.check();
    expect(model.state.check.problems).toEqual([{ field: 'commands', line: 3, message }]);
    expect(model.state.check.preview).toBeNull();
    model.dispose();
  });

  it('keeps only the newest check when replies overtake each other', async () => {
    let calls = 0;
    const { model } = modelFor({
      'POST dockerfile': () =>
        ++calls === 1
          ? { status: 400, body: { message: 'Custom command 1 is old.' } }
          : { status: 200, body: { dockerfile: 'new', apps: [], added_dependencies: {} } }
    });
    model.updateDraft({ commands: 'old' });
    const first = model.check();
    model.updateDraft({ commands: 'new' });
    const second = model.check();
    await Promise.all([first, second]);
    expect(model.state.check.problems).toEqual([]);
    expect(model.state.check.preview?.dockerfile).toBe('new');
    model.dispose();
  });

  it('reports an engine that is down instead of problems', async () => {
    const { model } = modelFor({
      'POST dockerfile': { status: 503, body: { message: 'The Docker Engine cannot be reached.' } }
    });
    await model.check();
    expect(model.state.check.problems).toEqual([]);
    expect(model.state.check.error).toBe('The Docker Engine cannot be reached.');
    model.dispose();
  });
});

describe('StarDockModel: building', () => {
  it('follows the live log to the end, then has the kernelspec ready', async () => {
    const { model, requests } = modelFor({
      'POST builds': [started, built],
      'GET builds/b1/log': LOG,
      'GET builds/b1': { status: 200, body: build({ step: 2, progress: 0.25 }) }
    });
    const ready: StarDockModel.IReady[] = [];
    model.environmentReady.connect((_, r) => ready.push(r));
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
    // Asked twice: to build, then for this dataset's kernelspec.
    expect(posts(requests, 'builds')).toHaveLength(2);
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
      'POST builds': [started, built],
      'GET builds/b1/log': [
        eventStream([{ id: 0, data: 'Step 1/4 : FROM stardock/base' }]),
        eventStream([
          { id: 1, data: 'Step 2/4 : RUN true' },
          { event: 'end', data: JSON.stringify(build({ state: 'succeeded', progress: 1 })) }
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
        'POST builds': [started, built],
        'GET builds/b1/log': eventStream([
          ...lines,
          { event: 'end', data: JSON.stringify(build({ state: 'succeeded' })) }
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
      'GET builds/b1/log': LOG,
      'POST builds': built
    });
    await model.resumeBuild();
    const ready = await model.build(); // shares the resumed build
    expect(ready?.environment).toBe('abcdef0123456789');
    expect(model.state.build?.log).toHaveLength(3);
    model.dispose();
  });
});

describe('StarDockModel: environments, kernels, archives', () => {
  const kernel = {
    id: 'k1',
    name: 'stardock-abcdef0123456789-m51',
    environment: 'abcdef0123456789',
    dataset: 'm51',
    outputs: 'stardock-outputs/k1',
    started: 1000,
    state: 'running',
    container: 'c0ffee'
  };
  const archive = { id: 'k1', size: 2048, manifest: { environment: 'abcdef0123456789' } };

  it('reads the lists and says what could not be read', async () => {
    const { model } = modelFor({
      'GET environments': { status: 503, body: { message: 'The engine is down.' } },
      'GET kernels': { status: 200, body: { kernels: [kernel] } },
      'GET archives': { status: 200, body: { archives: [archive] } }
    });
    await model.refreshLists();
    expect(model.state.environments).toBeNull();
    expect(model.state.kernels).toEqual([kernel]);
    expect(model.state.archives).toEqual([archive]);
    expect(model.state.listsError).toBe('The engine is down.');
    model.dispose();
  });

  it('stops a kernel and waits for its archive', async () => {
    const stopped: string[] = [];
    const { model } = modelFor(
      {
        'GET environments': { status: 200, body: { environments: [ENVIRONMENT] } },
        'GET kernels': [
          { status: 200, body: { kernels: [] } }
        ],
        'GET archives': [
          { status: 200, body: { archives: [] } },
          { status: 200, body: { archives: [archive] } }
        ]
      },
      { shutdownKernel: async id => void stopped.push(id) }
    );
    const seen: string[][] = [];
    model.stateChanged.connect((_, s) => seen.push([...s.stopping]));
    await model.stopKernel('k1');
    expect(stopped).toEqual(['k1']);
    expect(seen.some(s => s.includes('k1'))).toBe(true);
    expect(model.state.stopping).toEqual([]);
    expect(model.state.archives).toEqual([archive]);
    model.dispose();
  }, 10_000);

  it('tells whether an environment exists', async () => {
    const { model } = modelFor({
      'GET environments/abcdef0123456789': { status: 200, body: ENVIRONMENT },
      'GET environments/0000000000000000': { status: 503, body: { message: 'down' } }
    });
    expect(await model.environmentExists('abcdef0123456789')).toBe(true);
    expect(await model.environmentExists('ffffffffffffffff')).toBe(false);
    expect(await model.environmentExists('0000000000000000')).toBeNull();
    model.dispose();
  });

  it("rejects a delete with the server's sentence", async () => {
    const sentence = 'A running kernel uses this environment; stop the kernel first, then delete it.';
    const { model } = modelFor({
      'DELETE environments/abcdef0123456789': { status: 409, body: { message: sentence } }
    });
    const error = await model.deleteEnvironment('abcdef0123456789').catch(e => e);
    expect(error).toBeInstanceOf(ResponseError);
    expect(error.message).toBe(sentence);
    model.dispose();
  });

  it('links archives below the server base URL', () => {
    const { model } = modelFor({});
    expect(model.archiveUrl('k-1')).toBe(
      'http://localhost:8888/user/ada/stardock/api/archives/k-1'
    );
    model.dispose();
  });
});

describe('kernelspecName', () => {
  it('folds the dataset id as the server does', () => {
    expect(kernelspecName('abc', 'M 51/HST')).toBe('stardock-abc-m-51-hst');
    expect(kernelspecName('abc', null)).toBe('stardock-abc');
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
});
