import fs from 'node:fs/promises';
import path from 'node:path';
import { WitnessConflictError, type WitnessStore } from './witness-store.ts';

const FILE = /^checkpoint-(\d{20})\.txt$/;

/** One file per checkpoint, named by its tree size (zero-padded, so names sort as sizes do). */
export const checkpointFileName = (treeSize: number) => `checkpoint-${String(treeSize).padStart(20, '0')}.txt`;

/**
 * A directory that only ever gains files: each checkpoint is created once with an exclusive
 * create (`wx`) and never rewritten or removed, so the directory can be an object-locked
 * bucket the operator mounts (no rename, no temporary file: such mounts allow neither
 * overwriting nor deleting). A checkpoint of a size already held is compared, not replaced.
 */
export function createDirWitness(spec: string, directory: string): WitnessStore {
  return {
    spec,
    async publish({ treeSize, note }) {
      await fs.mkdir(directory, { recursive: true });
      const file = path.join(directory, checkpointFileName(treeSize));
      try {
        await fs.writeFile(file, note, { flag: 'wx', mode: 0o644 });
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
        const held = await fs.readFile(file, 'utf8');
        if (held !== note) throw new WitnessConflictError(`${spec}: ${path.basename(file)} already holds a different checkpoint of tree size ${treeSize}; it is kept as it is (check the log with countersign audit verify --witness ${spec})`);
      }
    },
    async read() {
      const names = (await fs.readdir(directory)).filter((name) => FILE.test(name)).sort();
      return Promise.all(names.map(async (name) => ({ name: `${spec}/${name}`, note: await fs.readFile(path.join(directory, name), 'utf8') })));
    },
  };
}
