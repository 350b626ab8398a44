/**
 * The sentences the panel shows when something is wrong, and where a refused
 * recipe's error belongs. The server writes most sentences itself; these are
 * for what it could not say (it is unreachable, or a proxy answered instead).
 */

import { ServerConnection } from '@jupyterlab/services';
import { TranslationBundle } from '@jupyterlab/translation';

import { commandLines, IDraft, IRecipeProblem, locateProblem } from './recipe';
import { ResponseError } from './request';
import { Phase } from './state';
import { IBuild } from './tokens';

/** Turns failed requests and finished builds into sentences, in the user's language. */
export class Messages {
  constructor(trans: TranslationBundle) {
    this._trans = trans;
  }

  /** The banner for a failed status request: which phase, and what to do. */
  statusFailure(error: unknown): { phase: Phase; message: string } {
    const trans = this._trans;
    if (error instanceof ResponseError) {
      switch (error.status) {
        case 404:
          return {
            phase: 'server-missing',
            message: trans.__(
              'The StarDock server extension is not installed or not enabled. Run: pip install jupyter-stardock, then jupyter server extension enable jupyter_stardock, and restart JupyterLab.'
            )
          };
        case 503:
          return {
            phase: 'engine-down',
            message:
              error.serverMessage ??
              trans.__(
                'The container engine cannot be reached. Start Docker or Podman on the Jupyter server, then refresh this panel.'
              )
          };
      }
    }
    return { phase: 'error', message: this.sentence(error) };
  }

  /** The sentence a failed request should show the user. */
  sentence(error: unknown): string {
    const trans = this._trans;
    if (error instanceof ResponseError) {
      return (
        error.serverMessage ??
        trans.__(
          'The StarDock server extension answered with HTTP %1. The Jupyter server log has the details.',
          error.status
        )
      );
    }
    if (error instanceof ServerConnection.NetworkError) {
      return trans.__(
        'The Jupyter server cannot be reached. Check that it is still running, then refresh this panel.'
      );
    }
    // A bug of ours rather than a server reply: keep it visible in the console.
    console.error('jupyter-stardock: request failed', error);
    return trans.__('The StarDock panel could not read the server reply: %1', String(error));
  }

  /** A 200 status reply that is not StarDock's (a proxy's page, another version). */
  unexpectedStatus(): string {
    return this._trans.__(
      'The StarDock server extension sent a status reply this panel does not understand. Install the same jupyter-stardock version for both, then restart JupyterLab.'
    );
  }

  /** Why a finished build cannot be opened: it failed, was cancelled, or its image went. */
  buildEnded(end: IBuild): string {
    const trans = this._trans;
    switch (end.state) {
      case 'succeeded':
        return trans.__(
          'The build finished, but its image is gone. Press Build to build it again.'
        );
      case 'cancelled':
        return trans.__('The build was cancelled.');
      default:
        return end.error ?? trans.__('The build failed; the log says why.');
    }
  }

  private _trans: TranslationBundle;
}

/** A 400 about the recipe, placed next to its field; `null` for any other failure. */
export function recipeProblem(error: unknown, draft: IDraft): IRecipeProblem | null {
  if (!(error instanceof ResponseError) || error.status !== 400 || !error.serverMessage) {
    return null;
  }
  const item = typeof error.reply?.item === 'string' ? error.reply.item : null;
  return locateProblem(error.serverMessage, item, commandLines(draft.commands).lines);
}
