// Package problem is problem management: problems created from one or more
// incidents, with root cause, workaround and the known error state that
// makes up the known error database (KEDB). Known errors are suggested to
// incidents that share CIs, software or words with them.
//
// Keyspace (the module writes only under prb/):
//
//	prb/seq                       last problem sequence
//	prb/r/<seq>                   Problem record
//	prb/inc/<INC-number>/<seq>    problems of an incident
//	prb/ci/<ci>/<seq>             problems of a CI
//	prb/open/<ci>/<seq>           open problems of a CI
//	prb/ke/ci/<ci>/<seq>          known errors by CI
//	prb/ke/sw/<title>/<seq>       known errors by software title
//	prb/ke/w/<word>/<seq>         known errors by keyword
package problem
