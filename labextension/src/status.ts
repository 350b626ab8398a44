/**
 * Reading the server's status reply (pure functions).
 */

import { isRecord, ResponseError } from './request';
import { IBaseImageInfo, IEngineInfo, IPoolStatus, IStatusReply } from './tokens';

/**
 * Check the shape of a status reply.
 *
 * Returns `null` when the reply is not StarDock's status (a proxy's page
 * answered with 200, for instance), so that it shows as a sentence, not a
 * crash. Panel and server ship in one wheel: every field is always sent.
 */
export function parseStatusReply(data: unknown): IStatusReply | null {
  if (!isRecord(data) || typeof data.version !== 'string') {
    return null;
  }
  const { engine, base_image: baseImage } = data;
  if (engine !== null && !(isRecord(engine) && typeof engine.version === 'string')) {
    return null;
  }
  if (
    baseImage !== null &&
    !(
      isRecord(baseImage) &&
      typeof baseImage.name === 'string' &&
      typeof baseImage.exists === 'boolean'
    )
  ) {
    return null;
  }
  return {
    ...data,
    version: data.version,
    engine: engine as IEngineInfo | null,
    base_image: baseImage as IBaseImageInfo | null,
    ...('pool' in data ? { pool: parsePool(data.pool) } : {})
  };
}

/** Issue 14: the warm pool's sizes, or `null` when it is off or not StarDock's shape. */
function parsePool(pool: unknown): IPoolStatus | null {
  const numbers = ['ready', 'capacity', 'memory_bytes', 'memory_budget_bytes'];
  if (!isRecord(pool) || !numbers.every(name => typeof pool[name] === 'number')) {
    return null;
  }
  return pool as unknown as IPoolStatus;
}

/**
 * What a failed status request still tells: StarDock's own errors carry the
 * server extension's version, so the panel can show it while the engine is down.
 */
export function knownVersion(error: unknown): IStatusReply | null {
  const version = error instanceof ResponseError ? error.reply?.version : null;
  return typeof version === 'string' ? { version, engine: null, base_image: null } : null;
}
