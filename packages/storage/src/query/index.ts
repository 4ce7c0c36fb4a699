/** The storage's query engine: SEARCH, SORT and THREAD as pure functions over QueryMessage. */
export type { QueryMessage, QueryContext } from './query-message.js';
export { compileSearch, searchMatches, needsBody, needsHeaders, type CompiledSearch } from './search.js';
export { sortMessages, sortOrder, type MessageList, type SortKey, type SortKeyName } from './sort.js';
export { threadMessages, formatThread, type ThreadNode, type ThreadAlgorithm } from './thread.js';
export { casemap } from './casemap.js';
