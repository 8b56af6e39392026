import type { MouseEvent, ReactNode } from "react";
import { navigate, routeHref, type Route } from "./routing";

/** A link to a view: a real href (open in a new tab works), client-side navigation on click. */
export function RouteLink({ to, children, className, title }: { to: Route; children: ReactNode; className?: string; title?: string }) {
  const onClick = (event: MouseEvent<HTMLAnchorElement>) => {
    if (event.button !== 0 || event.metaKey || event.ctrlKey || event.shiftKey || event.altKey) return;
    event.preventDefault();
    navigate(to);
  };
  return (
    <a href={routeHref(to)} onClick={onClick} className={className} title={title}>
      {children}
    </a>
  );
}
