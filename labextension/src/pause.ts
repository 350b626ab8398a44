/**
 * Pause, resume, suspend and restore a StarDock kernel (issue 17): the shapes
 * of the server's replies and the sentence the panel shows for each.
 */

import { TranslationBundle } from '@jupyterlab/translation';

export type KernelAction = 'pause' | 'resume' | 'suspend' | 'restore';

/** A kernel saved to disk by a suspend, as `GET /stardock/api/suspended` lists it. */
export interface ISuspendedKernel {
  kernel_id: string;
  kernel_name: string;
  environment: string;
  dataset: string | null;
  /** Seconds since the epoch. */
  suspended_at: number;
  saved: string[];
  /** Name -> why it could not be saved (an open file, a generator). */
  skipped: Record<string, string>;
}

/** What the four actions answer (each a part of these fields). */
export interface IKernelActionReply {
  id?: string;
  kernel_id?: string;
  restored_from?: string;
  saved?: string[];
  loaded?: string[];
  skipped?: Record<string, string>;
}

function names(trans: TranslationBundle, items: readonly string[] | undefined): string {
  return items && items.length ? [...items].sort().join(', ') : trans.__('nothing');
}

function skipped(trans: TranslationBundle, reply: IKernelActionReply): string {
  const entries = Object.entries(reply.skipped ?? {});
  return entries.length
    ? ' ' + trans.__('Not saved: %1.', entries.map(([name, why]) => `${name} (${why})`).join('; '))
    : '';
}

/** The sentence for an action that worked. */
export function actionSentence(
  trans: TranslationBundle,
  action: KernelAction,
  reply: IKernelActionReply
): string {
  switch (action) {
    case 'pause':
      return trans.__(
        'Kernel %1 is paused: its memory is kept and it uses no CPU; what is sent to it waits.',
        reply.id ?? ''
      );
    case 'resume':
      return trans.__('Kernel %1 runs again.', reply.id ?? '');
    case 'suspend':
      return (
        trans.__(
          'Kernel %1 is suspended: saved %2.',
          reply.kernel_id ?? '',
          names(trans, reply.saved)
        ) + skipped(trans, reply)
      );
    case 'restore':
      return (
        trans.__(
          'Kernel %1 is restored as kernel %2: loaded %3.',
          reply.restored_from ?? '',
          reply.id ?? '',
          names(trans, reply.loaded)
        ) + skipped(trans, reply)
      );
  }
}
