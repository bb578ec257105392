// The renderer's entry to shared/api.ts. The lint boundary rule classifies shared/api/** as the
// renderer-visible API (its `shared/api*` pattern matches folders, not the file shared/api.ts),
// so the renderer imports the contract through this re-export.
export * from '../api.ts';
