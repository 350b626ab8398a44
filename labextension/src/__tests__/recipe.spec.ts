import {
  commandLines,
  draftToRecipe,
  EMPTY_DRAFT,
  groupApps,
  locateProblem,
  recipeToDraft,
  resolveApps,
  sameRecipe,
  splitPackages
} from '../recipe';
import { CATALOG } from './fakeServer';

describe('commandLines', () => {
  it('sends non-blank lines and remembers the editor line of each', () => {
    expect(commandLines('echo a\n\n  \nRUN echo b\r\necho c\n')).toEqual({
      commands: ['echo a', 'RUN echo b', 'echo c'],
      lines: [1, 4, 5]
    });
  });
});

describe('splitPackages', () => {
  it('splits on spaces, commas and line breaks', () => {
    expect(splitPackages(' python3-scipy,saods9\n  astropy[all]==5.3 ')).toEqual([
      'python3-scipy',
      'saods9',
      'astropy[all]==5.3'
    ]);
    expect(splitPackages('  ')).toEqual([]);
  });
});

describe('draftToRecipe and recipeToDraft', () => {
  it('turn the fields into a recipe and back', () => {
    const draft = {
      dataset: 'm51',
      apps: ['swarp', 'astropy'],
      commands: 'echo a\n\necho b',
      aptPackages: 'wcstools',
      pipPackages: 'emcee, six'
    };
    const recipe = draftToRecipe(draft);
    expect(recipe).toEqual({
      dataset: 'm51',
      apps: ['astropy', 'swarp'],
      commands: ['echo a', 'echo b'],
      apt_packages: ['wcstools'],
      pip_packages: ['emcee', 'six']
    });
    expect(draftToRecipe(recipeToDraft(recipe))).toEqual(recipe);
    expect(recipeToDraft(recipe, null).dataset).toBeNull();
    expect(draftToRecipe(EMPTY_DRAFT).commands).toEqual([]);
  });
});

describe('resolveApps', () => {
  it('ticks what a chosen app requires, transitively, and says for whom', () => {
    const { selected, addedFor } = resolveApps(CATALOG, ['pyraf']);
    expect([...selected].sort()).toEqual(['iraf', 'pyraf', 'tables']);
    expect(addedFor.get('iraf')).toEqual(['pyraf']);
    expect(addedFor.get('tables')).toEqual(['pyraf']);
  });

  it('does not call a chosen app added', () => {
    const { selected, addedFor } = resolveApps(CATALOG, ['iraf', 'pyraf']);
    expect(selected.size).toBe(3);
    expect(addedFor.has('iraf')).toBe(false);
  });

  it('survives unknown ids and cycles', () => {
    const cyclic = [
      { ...CATALOG[0], id: 'a', requires: ['b'] },
      { ...CATALOG[0], id: 'b', requires: ['a'] }
    ];
    expect([...resolveApps(cyclic, ['a', 'zz']).selected].sort()).toEqual(['a', 'b', 'zz']);
  });
});

describe('groupApps', () => {
  it('groups by category in catalog order', () => {
    expect(groupApps(CATALOG, '').map(g => [g.category, g.apps.map(a => a.id)])).toEqual([
      ['Image reduction', ['iraf', 'pyraf', 'tables']],
      ['Mosaics and astrometry', ['swarp', 'scamp']]
    ]);
  });

  it('filters on every word, in id, title, description or category', () => {
    expect(groupApps(CATALOG, 'MOSAICS co-add').flatMap(g => g.apps.map(a => a.id))).toEqual([
      'swarp'
    ]);
    expect(groupApps(CATALOG, 'no such app')).toEqual([]);
  });
});

describe('locateProblem', () => {
  const lines = [1, 3, 4];

  it('maps "Custom command N" to its line in the editor', () => {
    const message = 'Custom command 2 starts with FROM, a Dockerfile instruction; ...';
    expect(locateProblem(message, null, lines)).toEqual({
      field: 'commands',
      line: 3,
      message
    });
    expect(locateProblem(message, 'command 3', lines).line).toBe(4);
  });

  it.each([
    ['Extra Debian package 1, "Foo", is not a Debian package name.', 'apt'],
    ['Extra pip package 2, "-e x", is not a package name.', 'pip'],
    ['The recipe has 201 custom commands; the limit is 200.', 'commands'],
    ["There is no dataset 'm52'.", 'dataset'],
    ["There is no app called 'pyraff' in the catalog. Did you mean 'pyraf'?", 'apps'],
    ['PyRAF (pyraf) and IRAF 2 (iraf2) cannot be installed together. Choose one of them.', 'apps'],
    ['The request body must be a JSON object (a recipe).', 'recipe']
  ])('places "%s" under %s', (message, field) => {
    expect(locateProblem(message, null, lines)).toMatchObject({ field, line: null });
  });

  it('prefers the item the server names, then reads the sentence', () => {
    expect(locateProblem('Something about a package.', 'pip package 1', lines).field).toBe(
      'pip'
    );
    const unknown = "There is no app called 'pyraff' in the catalog.";
    expect(locateProblem(unknown, 'pyraff', lines).field).toBe('apps');
  });
});

describe('sameRecipe', () => {
  it('ignores the order of apps and packages, not of commands', () => {
    const a = draftToRecipe({ ...EMPTY_DRAFT, apps: ['a', 'b'], commands: 'x\ny' });
    expect(sameRecipe(a, { ...a, apps: ['b', 'a'] })).toBe(true);
    expect(sameRecipe(a, { ...a, commands: ['y', 'x'] })).toBe(false);
    expect(sameRecipe(a, { ...a, dataset: 'm51' })).toBe(false);
  });
});
