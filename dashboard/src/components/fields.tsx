// Form fields. Each control sits inside its label, so the label is its
// accessible name (what screen readers say and the browser test finds it
// by), and hands the page the new value rather than the change event.

import type { InputHTMLAttributes, ReactNode } from 'react';

type InputAttributes = Omit<InputHTMLAttributes<HTMLInputElement>, 'value' | 'onChange' | 'className'>;

/** A text input (or number, search, password, date: `type`); `className` goes on the label. */
export function TextField({
  label,
  value,
  onValue,
  className,
  ...input
}: { label: ReactNode; value: string; onValue: (value: string) => void; className?: string } & InputAttributes) {
  return (
    <label className={className}>
      {label}
      <input value={value} onChange={(e) => onValue(e.target.value)} {...input} />
    </label>
  );
}

/** A checkbox with its label after it. */
export function CheckField({ label, checked, onChecked }: { label: ReactNode; checked: boolean; onChecked: (checked: boolean) => void }) {
  return (
    <label className="check">
      <input type="checkbox" checked={checked} onChange={(e) => onChecked(e.target.checked)} />
      {label}
    </label>
  );
}

/** A choice among `options`; with `any`, a first option of that name and the empty value (a filter that lets everything through). */
export function SelectField<T extends string>({
  label,
  value,
  options,
  onValue,
  any,
}: {
  label: string;
  value: T | '';
  options: readonly T[];
  onValue: (value: T) => void;
  any?: string;
}) {
  return (
    <label>
      {label}
      {/* The value is one of `options`, or '' only when `any` offers it. */}
      <select value={value} onChange={(e) => onValue(e.target.value as T)}>
        {any !== undefined && <option value="">{any}</option>}
        {options.map((o) => (
          <option key={o}>{o}</option>
        ))}
      </select>
    </label>
  );
}

/** A row of fields that narrow what a page lists. */
export function Filters({ label, children }: { label: string; children: ReactNode }) {
  return (
    <div className="filters" role="search" aria-label={label}>
      {children}
    </div>
  );
}
