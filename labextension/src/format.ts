/**
 * Numbers and times as the panel shows them (pure functions).
 */

import { TranslationBundle } from '@jupyterlab/translation';

import { IDataset } from './tokens';

/** Bytes in decimal units, as disk sizes are usually given: `7.3 GB`. */
export function formatBytes(bytes: number): string {
  const units = ['B', 'kB', 'MB', 'GB', 'TB'];
  let value = bytes;
  let unit = 0;
  while (value >= 1000 && unit < units.length - 1) {
    value /= 1000;
    unit += 1;
  }
  return `${value.toFixed(unit === 0 ? 0 : 1)} ${units[unit]}`;
}

/**
 * uicover fix: memory in binary units, as operators set it (`pool_memory = "512m"`
 * is 512 MiB) and as the engine counts it: `536.9 MB` read as a wrong budget.
 */
export function formatMemory(bytes: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit += 1;
  }
  return `${Number(value.toFixed(unit === 0 ? 0 : 1))} ${units[unit]}`;
}

/** A duration as a stopwatch shows it: `0:07`, `2:05`, `1:02:05`. */
export function formatElapsed(seconds: number): string {
  const total = Math.max(0, Math.floor(seconds));
  const h = Math.floor(total / 3600);
  const m = Math.floor((total % 3600) / 60);
  const s = String(total % 60).padStart(2, '0');
  return h > 0 ? `${h}:${String(m).padStart(2, '0')}:${s}` : `${m}:${s}`;
}

/** How the dataset picker names a dataset: `Messier 51 (27 files, 7.3 GB)`. */
export function datasetLabel(dataset: IDataset, trans: TranslationBundle): string {
  if (!dataset.exists) {
    return trans.__('%1 (not available)', dataset.title);
  }
  return trans._n(
    '%2 (%1 file, %3)',
    '%2 (%1 files, %3)',
    dataset.files,
    dataset.title,
    formatBytes(dataset.bytes)
  );
}
