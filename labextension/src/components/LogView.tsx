import { TranslationBundle } from '@jupyterlab/translation';
import { copyIcon } from '@jupyterlab/ui-components';
import React, { useLayoutEffect, useRef, useState } from 'react';

import { IconButton } from './Section';

export interface ILogViewProps {
  lines: readonly string[];
  /** How many older lines were dropped. */
  dropped: number;
  trans: TranslationBundle;
  onCopy: (text: string) => void;
}

/**
 * A live build log. It follows new lines until the user scrolls up, and
 * follows again once they scroll back to the bottom (or press the button).
 */
export function LogView(props: ILogViewProps): JSX.Element {
  const { lines, dropped, trans } = props;
  const ref = useRef<HTMLPreElement>(null);
  const [following, setFollowing] = useState(true);

  useLayoutEffect(() => {
    const node = ref.current;
    if (following && node) {
      node.scrollTop = node.scrollHeight;
    }
  }, [lines, following]);

  const onScroll = (): void => {
    const node = ref.current;
    if (node) {
      setFollowing(node.scrollHeight - node.scrollTop - node.clientHeight < 8);
    }
  };

  return (
    <div className="jp-StarDock-log">
      <div className="jp-StarDock-logTools">
        <span className="jp-StarDock-hint">
          {dropped > 0
            ? trans._n(
                'Build log (%1 earlier line not kept)',
                'Build log (%1 earlier lines not kept)',
                dropped
              )
            : trans.__('Build log')}
        </span>
        {!following && (
          <button
            type="button"
            className="jp-StarDock-linkButton"
            onClick={() => setFollowing(true)}
          >
            {trans.__('Follow the log')}
          </button>
        )}
        <IconButton
          icon={copyIcon}
          label={trans.__('Copy the build log')}
          onClick={() => props.onCopy(lines.join('\n'))}
          disabled={!lines.length}
        />
      </div>
      <pre
        ref={ref}
        className="jp-StarDock-logText"
        tabIndex={0}
        aria-label={trans.__('Build log')}
        onScroll={onScroll}
      >
        {lines.join('\n')}
      </pre>
    </div>
  );
}
