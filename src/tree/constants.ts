/** The tunables of writeDirectory's staged trees. */

import { TEMP_TAG } from '../core/constants.js';

/**
 * Mode of a staged directory while it is filled, when its final mode is set explicitly
 * (`dirMode`, or the mode of the directory being replaced): owner-only, so the tree is never
 * more open than its final mode, yet writable by the writer even if the final mode is not.
 * The final mode is applied with fchmod() before the directory is fsynced.
 */
export const STAGING_DIR_MODE = 0o700;

/** Marker of a previous tree kept by `keepOld`: `.<name>.afs-old-<time>-<random>`. */
export const KEPT_TAG = `${TEMP_TAG}-old`;
