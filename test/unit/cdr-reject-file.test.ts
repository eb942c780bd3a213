import { mkdir, mkdtemp, readdir, readFile, readlink, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { moveAside, RejectedDirError } from '../../src/cdr/reject-file';

/**
 * Whoever can drop files in a watched directory can also plant entries in its rejected/ folder
 * (the SFTP account is in the ingester's group): moving a file aside must not write through them.
 */
describe('moveAside', () => {
  let root: string;
  let dir: string;
  let outside: string;
  beforeEach(async () => {
    root = await mkdtemp(join(tmpdir(), 'cdr-reject-'));
    dir = join(root, 'drop');
    outside = join(root, 'outside');
    await mkdir(dir);
    await mkdir(outside);
    await writeFile(join(dir, 'junk'), 'x\n');
  });
  afterEach(() => rm(root, { recursive: true, force: true }));

  it('moves the file to rejected/ with its reason', async () => {
    expect(await moveAside(join(dir, 'junk'), 'not a CDR')).toBe(join(dir, 'rejected', 'junk'));
    expect(await readFile(join(dir, 'rejected', 'junk'), 'utf8')).toBe('x\n');
    expect(await readFile(join(dir, 'rejected', 'junk.reason'), 'utf8')).toBe('not a CDR\n');
    expect(await readdir(dir)).toEqual(['rejected']);
  });

  it('does not write through a planted .reason symlink: the victim stays as it was, the file goes under a new name', async () => {
    const victim = join(outside, 'victim.txt');
    await writeFile(victim, 'precious\n');
    await mkdir(join(dir, 'rejected'));
    await symlink(victim, join(dir, 'rejected', 'junk.reason'));
    expect(await moveAside(join(dir, 'junk'), 'not a CDR')).toBe(join(dir, 'rejected', 'junk.1'));
    expect(await readFile(victim, 'utf8')).toBe('precious\n');
    expect(await readlink(join(dir, 'rejected', 'junk.reason'))).toBe(victim);
    expect(await readFile(join(dir, 'rejected', 'junk.1.reason'), 'utf8')).toBe('not a CDR\n');
  });

  it('does not rename over a planted symlink, an earlier rejected file or a directory of the same name', async () => {
    await mkdir(join(dir, 'rejected'));
    await symlink(join(outside, 'target'), join(dir, 'rejected', 'junk'));
    await writeFile(join(dir, 'rejected', 'junk.1'), 'earlier\n');
    await mkdir(join(dir, 'rejected', 'junk.2'));
    expect(await moveAside(join(dir, 'junk'), 'not a CDR')).toBe(join(dir, 'rejected', 'junk.3'));
    expect(await readFile(join(dir, 'rejected', 'junk.1'), 'utf8')).toBe('earlier\n');
    expect(await readdir(outside)).toEqual([]);
    expect(await readFile(join(dir, 'rejected', 'junk.3'), 'utf8')).toBe('x\n');
    expect((await readdir(join(dir, 'rejected'))).filter((n) => n.endsWith('.reason'))).toEqual(['junk.3.reason']);
  });

  it('refuses a rejected/ that is a symlink or a file, and leaves the file where it is', async () => {
    await symlink(outside, join(dir, 'rejected'));
    await expect(moveAside(join(dir, 'junk'), 'not a CDR')).rejects.toThrow(new RejectedDirError(`${join(dir, 'rejected')} is a symlink: refusing to move files through it (make it a real directory)`));
    expect(await readdir(outside)).toEqual([]);
    await rm(join(dir, 'rejected'));
    await writeFile(join(dir, 'rejected'), '');
    await expect(moveAside(join(dir, 'junk'), 'not a CDR')).rejects.toThrow(RejectedDirError);
    expect((await readdir(dir)).sort()).toEqual(['junk', 'rejected']);
  });

  it('says undefined when another ingester moved the file first, and leaves no claimed names behind', async () => {
    await rm(join(dir, 'junk'));
    expect(await moveAside(join(dir, 'junk'), 'not a CDR')).toBeUndefined();
    expect(await readdir(join(dir, 'rejected'))).toEqual([]);
  });
});
