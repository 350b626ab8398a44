import { CATALOG, DATASETS, routedModel as modelFor } from './fakeServer';

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
