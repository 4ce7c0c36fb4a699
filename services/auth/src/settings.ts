/** The auth service is configured by the auth package's settings (declared beside the drivers). */
export { authSettingsSchema, type AuthSettings } from '@loft/auth';
