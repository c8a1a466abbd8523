import { Ajv, type Options } from 'ajv';
import addFormats from 'ajv-formats';

/**
 * The two JSON Schema validators Custos uses. Bodies are validated strictly: no type
 * coercion (a JSON `"true"` is not a boolean) and unknown properties are refused rather
 * than silently dropped. Query strings, params and environment variables are text on the
 * wire, so their validator coerces types and wraps single values into arrays.
 */
const common: Options = { allErrors: true, strict: false, removeAdditional: false, useDefaults: true };

function createAjv(options: Options): Ajv {
  const ajv = new Ajv({ ...common, ...options });
  addFormats.default(ajv);
  return ajv;
}

export const strictAjv = createAjv({ coerceTypes: false });
export const coercingAjv = createAjv({ coerceTypes: 'array' });
