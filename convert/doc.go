// Package convert turns other tools' documents into cutover's: Argo
// Rollouts' Rollouts and analysis templates into a Gateway's routes and
// backends, plans and AnalysisTemplates.
package convert
