/** Value shapes the config sections share. */
import { z } from 'zod';

export const port = z.number().int().min(1).max(65535);
export const positiveMs = z.number().int().positive();
