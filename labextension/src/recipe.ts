/**
 * Pure functions between what the user types in the panel and a recipe the
 * server understands: no state, no requests.
 */

import { IApp, IBuild, IRecipe } from './tokens';

/** The recipe as the panel's fields hold it. */
export interface IDraft {
  /** A dataset id, or `null` for none. */
  dataset: string | null;
  /** The apps the user ticked (not those ticked for them as dependencies). */
  apps: string[];
  /** The custom commands editor: one shell command per line. */
  commands: string;
  /** Extra Debian packages, separated by spaces or commas. */
  aptPackages: string;
  /** Extra pip packages, separated by spaces or commas. */
  pipPackages: string;
  /** issue 18: the GPU opt-in (absent: off). */
  gpus?: boolean;
}

export const EMPTY_DRAFT: IDraft = {
  dataset: null,
  apps: [],
  commands: '',
  aptPackages: '',
  pipPackages: ''
};

/** The field of the panel a problem belongs to. */
export type ProblemField = 'commands' | 'apt' | 'pip' | 'apps' | 'dataset' | 'recipe';

/** A sentence from the server's policy, placed next to the field it is about. */
export interface IRecipeProblem {
  field: ProblemField;
  /** For a custom command: its line in the editor (counted from 1). */
  line: number | null;
  message: string;
}

/** The non-blank lines of the commands editor, and the editor line of each. */
export function commandLines(text: string): { commands: string[]; lines: number[] } {
  const commands: string[] = [];
  const lines: number[] = [];
  text.split(/\r\n|\r|\n/).forEach((line, index) => {
    if (line.trim()) {
      commands.push(line);
      lines.push(index + 1);
    }
  });
  return { commands, lines };
}

/** Package names typed in one field, separated by spaces, commas or line breaks. */
export function splitPackages(text: string): string[] {
  return text.split(/[\s,]+/).filter(Boolean);
}

/** The recipe a draft stands for. */
export function draftToRecipe(draft: IDraft): IRecipe {
  return {
    dataset: draft.dataset,
    apps: [...draft.apps].sort(),
    commands: commandLines(draft.commands).commands,
    apt_packages: splitPackages(draft.aptPackages),
    pip_packages: splitPackages(draft.pipPackages),
    // issue 18: written only when on, so a recipe without GPUs stays as it was.
    ...(draft.gpus ? { gpus: true } : {})
  };
}

/** A draft showing a recipe (from an environment or a notebook's metadata). */
export function recipeToDraft(recipe: Partial<IRecipe>, dataset?: string | null): IDraft {
  return {
    dataset: dataset !== undefined ? dataset : (recipe.dataset ?? null),
    apps: [...(recipe.apps ?? [])],
    commands: (recipe.commands ?? []).join('\n'),
    aptPackages: (recipe.apt_packages ?? []).join(' '),
    pipPackages: (recipe.pip_packages ?? []).join(' '),
    ...(recipe.gpus ? { gpus: true } : {}) // issue 18
  };
}

/**
 * The apps a choice installs: every chosen app and, transitively, what it
 * requires. Maps each app that was added for the user to the chosen apps that
 * need it (PyRAF ticks IRAF: `iraf -> ["pyraf"]`).
 */
export function resolveApps(
  catalog: readonly IApp[],
  chosen: readonly string[]
): { selected: Set<string>; addedFor: Map<string, string[]> } {
  const byId = new Map(catalog.map(app => [app.id, app]));
  const selected = new Set<string>();
  const addedFor = new Map<string, string[]>();
  const chosenSet = new Set(chosen);
  for (const root of chosen) {
    const stack = [root];
    const seen = new Set<string>();
    while (stack.length) {
      const id = stack.pop()!;
      if (seen.has(id)) {
        continue;
      }
      seen.add(id);
      selected.add(id);
      if (id !== root && !chosenSet.has(id)) {
        const needers = addedFor.get(id) ?? [];
        if (!needers.includes(root)) {
          addedFor.set(id, [...needers, root].sort());
        }
      }
      stack.push(...(byId.get(id)?.requires ?? []));
    }
  }
  return { selected, addedFor };
}

/** Apps that match a filter, grouped by category in catalog order. */
export function groupApps(
  catalog: readonly IApp[],
  filter: string
): { category: string; apps: IApp[] }[] {
  const words = filter.toLowerCase().split(/\s+/).filter(Boolean);
  const groups = new Map<string, IApp[]>();
  for (const app of catalog) {
    const text = `${app.id} ${app.title} ${app.description} ${app.category}`.toLowerCase();
    if (words.every(word => text.includes(word))) {
      groups.set(app.category, [...(groups.get(app.category) ?? []), app]);
    }
  }
  return [...groups].map(([category, apps]) => ({ category, apps }));
}

/**
 * Place a server's sentence next to the field it is about.
 *
 * The policy names the item it refuses ("Custom command 2 ...", "Extra pip
 * package 1, ...") and, where the server sends it, in `item` too; a custom
 * command is mapped back to its line in the editor, since blank lines are
 * not sent.
 */
export function locateProblem(
  message: string,
  item: string | null,
  editorLines: readonly number[]
): IRecipeProblem {
  const subjects = item ? [item, message] : [message];
  for (const subject of subjects) {
    const command = /^(?:custom )?command (\d+)\b/i.exec(subject);
    if (command) {
      const index = Number(command[1]);
      return { field: 'commands', line: editorLines[index - 1] ?? null, message };
    }
    const found = FIELD_RULES.find(([pattern]) => pattern.test(subject));
    if (found) {
      return { field: found[1], line: null, message };
    }
  }
  return { field: 'recipe', line: null, message };
}

/** Which field a sentence (or the server's `item`) is about, first match wins. */
const FIELD_RULES: [RegExp, ProblemField][] = [
  [/^(?:extra )?debian package/i, 'apt'],
  [/^(?:extra )?pip package/i, 'pip'],
  [/^commands$|custom commands/i, 'commands'],
  [/^dataset$|\bdataset\b/i, 'dataset'],
  [/\bapps?\b|catalog|installed together/i, 'apps']
];

/** Whether two recipes build the same image and mount the same dataset. */
export function sameRecipe(a: IRecipe, b: IRecipe): boolean {
  const key = (r: IRecipe): string =>
    JSON.stringify([
      r.dataset ?? null,
      [...r.apps].sort(),
      r.commands.map(c => c.trim()),
      [...r.apt_packages].sort(),
      [...r.pip_packages].sort(),
      !!r.gpus // issue 18
    ]);
  return key(a) === key(b);
}

/**
 * The problem a failed build marks in the panel: the custom command (by its
 * line in the editor), the app or the package field that failed, with the
 * step's own last output. `recipe` is what was sent for the build. `null`
 * when no part of the recipe is to blame, or when the fields now hold another
 * recipe (a stale result is never marked).
 */
export function buildProblem(
  record: IBuild,
  recipe: IRecipe,
  draft: IDraft
): IRecipeProblem | null {
  const failure = record.failure;
  if (record.state !== 'failed' || !failure?.item || !sameRecipe(recipe, draftToRecipe(draft))) {
    return null;
  }
  const message = [failure.summary, ...failure.output].join('\n');
  return locateProblem(message, failure.item, commandLines(draft.commands).lines);
}
