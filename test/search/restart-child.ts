// Child process for the restart test: unlocks the profile, indexes, writes, then either closes
// cleanly or dies without closing anything (mode 'crash'), as a killed app would.
import { Vault } from '../../main/vault/index.ts';
import { SearchService } from '../../main/search/service.ts';
import { corpus, hexId, T0, DAY } from './corpus.ts';

const [profile, password, mode] = process.argv.slice(2) as [string, string, 'clean' | 'crash'];
const vault = await Vault.unlock(profile, password);
const service = await SearchService.open(vault);
const n = mode === 'crash' ? 900 : 901;
vault.appendMessages([{ ...corpus()[0]!, id: hexId(n), text: `restart ${mode} quillowisp`, sentAt: T0 + n * DAY }]);
vault.deleteMessage(hexId(mode === 'crash' ? 11 : 12));
// A catchUp after a deletion writes a snapshot at once (the old one still holds the deleted
// text); the crash mode dies before that, so its changes must come back as the tail. search()
// applies them to the index in RAM without a snapshot.
if (mode === 'clean') service.catchUp();
const found = service.search({ text: 'quillowisp ' }).map((h) => h.id);
process.stdout.write(`${JSON.stringify({ openedFrom: service.openedFrom, found })}\n`);
if (mode === 'crash') process.exit(0); // no close, no lock: the index in RAM is simply lost
service.close();
vault.lock();
