import { IStagingView, Stager } from '../staging';

function view(change: Partial<IStagingView>): IStagingView {
  return {
    id: 'a'.repeat(32),
    dataset: 'tonight',
    title: 'tonight',
    state: 'staging',
    message: '',
    files_total: 2,
    files_done: 0,
    bytes_total: 200,
    bytes_done: 0,
    ...change
  };
}

describe('Stager', () => {
  it('posts the pasted list and follows the request to its end', async () => {
    const answers = [
      view({ files_done: 1, bytes_done: 100 }),
      view({ state: 'complete', files_done: 2, bytes_done: 200 })
    ];
    const calls: [string, RequestInit | undefined][] = [];
    const completed: IStagingView[] = [];
    const stager = new Stager(
      {
        request: async <T>(endPoint: string, init?: RequestInit) => {
          calls.push([endPoint, init]);
          if (endPoint === 'datasets') {
            return { request: view({ state: 'queued' }) } as T;
          }
          return { request: answers.shift() } as T;
        },
        sentence: error => String(error),
        completed: request => completed.push(request)
      },
      1
    );
    const seen: number[] = [];
    stager.changed.connect((_, state) => seen.push(state.request?.files_done ?? -1));
    await stager.stage('tape:a.fits\ntape:b.fits', ' tonight ');
    expect(JSON.parse(String(calls[0][1]?.body))).toEqual({
      files: 'tape:a.fits\ntape:b.fits',
      dataset: 'tonight'
    });
    while (completed.length === 0) {
      await new Promise(resolve => setTimeout(resolve, 2));
    }
    expect(calls[1][0]).toBe(`staging/${'a'.repeat(32)}`);
    expect(seen).toContain(1);
    expect(stager.state.request?.state).toBe('complete');
    expect(completed[0].dataset).toBe('tonight');
  });

  it('shows the server sentence when a file is refused', async () => {
    const stager = new Stager({
      request: async () => {
        throw new Error('Nothing was staged: you may not read ppa:p.fits (only ana may read it).');
      },
      sentence: error => (error as Error).message,
      completed: () => undefined
    });
    await stager.stage('ppa:p.fits', '');
    expect(stager.state.error).toContain('ppa:p.fits (only ana may read it)');
    expect(stager.state.request).toBeNull();
    expect(stager.state.posting).toBe(false);
  });
});
