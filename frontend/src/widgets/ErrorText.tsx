/** An error for the user, where it happened. */
export function ErrorText({ error, title }: { error: string | null | undefined; title?: string }) {
  if (!error) return null;
  return (
    <div className="error-text" role="alert">
      {title && <strong>{title}: </strong>}
      {error}
    </div>
  );
}
