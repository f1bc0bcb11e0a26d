/** Doctor: finds what is wrong across the registry, the servers and the tenants, and repairs what it safely can. */
export {
  runDoctor,
  examineFleet,
  concludeExamination,
  type DoctorOptions,
  type DoctorResult,
  type DoctorExamination,
  type Finding,
  type TenantHealth,
  type HealthCheck,
} from './doctor.js';
