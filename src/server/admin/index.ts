export { AdminHandler, type AdminOptions } from './handler.js';
export { ADMIN_TOKEN_TTL_MS, createAdminToken, verifyAdminToken, passwordMatches } from './token.js';
