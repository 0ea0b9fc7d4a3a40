import { describe, it } from 'vitest';
import { MemoryStorage } from '../../src/storage/memory/index.js';
import { storageConformance } from '../../src/testing/index.js';

storageConformance({ describe, it }, { name: 'MemoryStorage', create: () => new MemoryStorage() });
