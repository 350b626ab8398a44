/**
 * Reading what the panel lists: the catalog and datasets, and this user's
 * builds, environments, kernels and archives. A list that cannot be read keeps
 * what the panel showed before; the first failure's sentence says why.
 */

import { Messages } from './messages';
import { IState } from './state';
import { IApp, IArchive, IBuild, IDataset, IEnvironment, IKernelInfo } from './tokens';

/** A GET below the API namespace (the model's, with its connection settings). */
export type Get = <T>(endPoint: string) => Promise<T>;

/** The datasets this user may mount and the app catalog, as state. */
export async function readCatalog(
  get: Get,
  current: () => IState,
  messages: Messages
): Promise<Pick<IState, 'datasets' | 'apps' | 'catalogProblems' | 'catalogError'>> {
  const [datasets, apps] = await Promise.allSettled([
    get<{ datasets: IDataset[] }>('datasets'),
    get<{ apps: IApp[]; problems: string[] }>('apps')
  ]);
  const before = current();
  return {
    datasets: datasets.status === 'fulfilled' ? datasets.value.datasets : before.datasets,
    apps: apps.status === 'fulfilled' ? apps.value.apps : before.apps,
    catalogProblems: apps.status === 'fulfilled' ? apps.value.problems : [],
    catalogError: firstFailure([datasets, apps], messages)
  };
}

/** This user's builds, environments, running kernels and archives, as state. */
export async function readLists(
  get: Get,
  current: () => IState,
  messages: Messages
): Promise<Pick<IState, 'builds' | 'environments' | 'kernels' | 'archives' | 'listsError'>> {
  const [environments, kernels, archives, builds] = await Promise.allSettled([
    get<{ environments: IEnvironment[] }>('environments'),
    get<{ kernels: IKernelInfo[] }>('kernels'),
    get<{ archives: IArchive[] }>('archives'),
    // Every build of this user, whatever started it (the CLI, the magics, another tab).
    get<{ builds: IBuild[] }>('builds')
  ]);
  const before = current();
  return {
    builds: builds.status === 'fulfilled' ? builds.value.builds : before.builds,
    environments:
      environments.status === 'fulfilled' ? environments.value.environments : before.environments,
    kernels: kernels.status === 'fulfilled' ? kernels.value.kernels : before.kernels,
    archives: archives.status === 'fulfilled' ? archives.value.archives : before.archives,
    listsError: firstFailure([environments, kernels, archives, builds], messages)
  };
}

/** The sentence for the first of several requests that failed, or `null`. */
function firstFailure(results: PromiseSettledResult<unknown>[], messages: Messages): string | null {
  const failure = results.find(r => r.status === 'rejected');
  return failure ? messages.sentence(failure.reason) : null;
}
