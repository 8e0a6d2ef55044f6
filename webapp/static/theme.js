// The remembered colour theme, applied before the first paint (Python loads seconds
// later and owns the toggle: webapp/page/views/layout.py).
try {
  const theme = localStorage.getItem("ruschat-theme");
  if (theme === "light" || theme === "dark") document.documentElement.setAttribute("data-theme", theme);
} catch (error) {
  // Storage may be off (private mode, policy): the system's theme then applies.
}
