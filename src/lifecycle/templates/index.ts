export {
  readyTemplate,
  dropTemplateRow,
  templateLockName,
  TEMPLATE_PREFIX,
  type ReadyTemplate,
} from './build-template.js';
export { templateKey, type TemplateKey } from './template-key.js';
export {
  buildTemplates,
  dropTemplates,
  listTemplates,
  type TemplateBuildOutcome,
  type TemplateInfo,
} from './manage-templates.js';
