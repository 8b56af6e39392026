import { useState } from "react";
import type { ApiKeyStore } from "../api/client";
import { Modal } from "./Modal";

/** Asks for the server's API key (after a 401, or from the header button). */
export function ApiKeyDialog({ keys, onClose, reason }: { keys: ApiKeyStore; onClose: () => void; reason: string | null }) {
  const [value, setValue] = useState(keys.get() ?? "");
  return (
    <Modal title="API key" onClose={onClose}>
      <form
        className="form"
        onSubmit={(event) => {
          event.preventDefault();
          keys.set(value);
          onClose();
        }}
      >
        {reason && (
          <p className="error-text" role="alert">
            {reason}
          </p>
        )}
        <p className="muted">
          The server is configured with an API key (<code>api.api_key</code>). It is kept in this browser's local storage and
          sent as <code>Authorization: Bearer …</code>.
        </p>
        <label className="field">
          <span>Key</span>
          <input type="password" autoComplete="off" value={value} onChange={(e) => setValue(e.target.value)} data-autofocus />
        </label>
        <div className="modal-actions">
          <button
            type="button"
            onClick={() => {
              keys.set(null);
              onClose();
            }}
          >
            Forget key
          </button>
          <button type="submit" className="button-primary">
            Use key
          </button>
        </div>
      </form>
    </Modal>
  );
}
