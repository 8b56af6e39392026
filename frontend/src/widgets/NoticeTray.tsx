import type { NoticeStore } from "../app/notices";
import { useNotices } from "../app/notices";

/** Errors of actions and background requests, until the user dismisses them. */
export function NoticeTray({ store }: { store: NoticeStore }) {
  const notices = useNotices(store);
  if (notices.length === 0) return null;
  return (
    <div className="notice-tray" aria-live="polite">
      {notices.map((notice) => (
        <div key={notice.id} className={`notice notice-${notice.tone}`} role={notice.tone === "error" ? "alert" : "status"}>
          <span>{notice.text}</span>
          <button type="button" className="button-quiet" onClick={() => store.dismiss(notice.id)} aria-label="Dismiss">
            ×
          </button>
        </div>
      ))}
    </div>
  );
}
