import { LabIcon } from '@jupyterlab/ui-components';
import React, { useId } from 'react';

export interface ISectionProps {
  title: string;
  /** Extra class, e.g. `jp-StarDock-build`. */
  className?: string;
  busy?: boolean;
  /** Controls shown at the right of the heading. */
  tools?: React.ReactNode;
  children: React.ReactNode;
}

/** A titled part of the panel, labelled by its heading for screen readers. */
export function Section(props: ISectionProps): JSX.Element {
  const headingId = useId();
  return (
    <section
      className={`jp-StarDock-section ${props.className ?? ''}`.trim()}
      aria-labelledby={headingId}
      aria-busy={props.busy || undefined}
    >
      <div className="jp-StarDock-sectionHeader">
        <h3 className="jp-StarDock-sectionTitle" id={headingId}>
          {props.title}
        </h3>
        {props.tools}
      </div>
      {props.children}
    </section>
  );
}

export interface IIconButtonProps {
  icon: LabIcon;
  /** The accessible name, also shown as tooltip. */
  label: string;
  onClick: () => void;
  disabled?: boolean;
}

/** A small button showing only an icon; its label is read out and shown on hover. */
export function IconButton(props: IIconButtonProps): JSX.Element {
  const Icon = props.icon.react;
  return (
    <button
      type="button"
      className="jp-StarDock-iconButton"
      onClick={props.onClick}
      disabled={props.disabled}
      aria-label={props.label}
      title={props.label}
    >
      <Icon tag="span" elementSize="normal" />
    </button>
  );
}

export interface ITextButtonProps {
  label: string;
  icon?: LabIcon;
  /** `accept` for the main action, `warn` for one that stops something. */
  kind?: 'accept' | 'warn';
  onClick: () => void;
  disabled?: boolean;
  /** Tooltip, e.g. why the button is disabled. */
  title?: string;
}

/** A button with a visible label, and an icon before it. */
export function TextButton(props: ITextButtonProps): JSX.Element {
  const Icon = props.icon?.react;
  return (
    <button
      type="button"
      className={`jp-StarDock-button ${props.kind ? `jp-mod-${props.kind}` : ''}`.trim()}
      onClick={props.onClick}
      disabled={props.disabled}
      title={props.title}
    >
      {Icon && <Icon tag="span" elementSize="normal" />}
      {props.label}
    </button>
  );
}

export interface IListItemProps {
  title: string;
  /** Short facts shown under the title, joined by dots; empty ones are left out. */
  details: string[];
  /** `data-*` attributes that name the item (for tests and styling). */
  data: Record<string, string>;
  /** The item's buttons. */
  children: React.ReactNode;
}

/** One row of a list: a title, a line of details, and buttons at the right. */
export function ListItem(props: IListItemProps): JSX.Element {
  const data = Object.fromEntries(
    Object.entries(props.data).map(([key, value]) => [`data-${key}`, value])
  );
  return (
    <li className="jp-StarDock-item" {...data}>
      <div className="jp-StarDock-itemText">
        <span className="jp-StarDock-itemTitle">{props.title}</span>
        <span className="jp-StarDock-itemDetail">
          {props.details.filter(Boolean).join(' · ')}
        </span>
      </div>
      {props.children}
    </li>
  );
}

export interface IShowAllProps {
  /** Whether every item is listed now. */
  all: boolean;
  /** How many are listed when not all. */
  shown: number;
  /** How many there are. */
  total: number;
  /** The label that lists them all, e.g. "Show all %1 builds" with `total`. */
  showAll: string;
  /** The label that lists only the newest, with `shown`. */
  showNewest: string;
  onToggle: () => void;
}

/** "Show all N …" under a list that shows only its newest items, or nothing when all fit. */
export function ShowAll(props: IShowAllProps): JSX.Element | null {
  if (props.total <= props.shown) {
    return null;
  }
  return (
    <button
      type="button"
      className="jp-StarDock-linkButton"
      aria-expanded={props.all}
      onClick={props.onToggle}
    >
      {props.all ? props.showNewest : props.showAll}
    </button>
  );
}
