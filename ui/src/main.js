// The page: three parts (Notify me, My notifications, Operator) sharing one list of sources.
import { api } from './api.js';
import { setupMine, refresh as refreshMine } from './mine.js';
import { setupNotify } from './notify.js';
import { setupOperator } from './operator.js';
import { registration, supported } from './push.js';

const notify = setupNotify(document.getElementById('notify-form'), () => refreshMine());
const mine = setupMine(document.getElementById('mine-list'));

/** Sources changed (loaded, or the operator changed one): the recipes each serves did too. */
function sourcesChanged(sources) {
  mine.sources(sources);
  notify.sources(sources);
  return notify.recipes();
}

async function loadSources() {
  try {
    await sourcesChanged(await api.sources());
  } catch (e) {
    const line = document.querySelector('#notify-form .status');
    line.dataset.kind = 'error';
    line.textContent = `Could not load the chains: ${e.message}`;
  }
}

setupOperator(document.getElementById('operator'), sourcesChanged);
if (!supported()) {
  document.getElementById('push-unsupported').hidden = false;
} else {
  // Registered early so a push that arrives while the page is open is shown too.
  registration().catch(() => {});
}
await Promise.all([loadSources(), notify.channels()]);
await refreshMine();
document.body.dataset.ready = 'true';
