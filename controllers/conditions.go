package controllers

import (
	"math/rand/v2"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	oauthv1 "github.com/clientcreds/clientcreds/api/v1alpha1"
)

// conditions sets the kstatus trio on a condition list: Ready always, Reconciling and
// Stalled only while true.
type conditions struct {
	list       *[]metav1.Condition
	generation int64
}

func (c conditions) set(typ string, status metav1.ConditionStatus, reason, msg string) {
	meta.SetStatusCondition(c.list, metav1.Condition{
		Type: typ, Status: status, Reason: reason, Message: msg, ObservedGeneration: c.generation,
	})
}

// ready marks the object ready and done.
func (c conditions) ready(reason, msg string) {
	c.set(oauthv1.ConditionReady, metav1.ConditionTrue, reason, msg)
	meta.RemoveStatusCondition(c.list, oauthv1.ConditionReconciling)
	meta.RemoveStatusCondition(c.list, oauthv1.ConditionStalled)
}

// progressing marks work under way. Ready turns False unless keepReady (the object was
// Ready for this generation and the hiccup does not change that).
func (c conditions) progressing(reason, msg string, keepReady bool) {
	if !keepReady {
		c.set(oauthv1.ConditionReady, metav1.ConditionFalse, reason, msg)
	}
	c.set(oauthv1.ConditionReconciling, metav1.ConditionTrue, reason, msg)
	meta.RemoveStatusCondition(c.list, oauthv1.ConditionStalled)
}

// stalled marks a state the controller cannot leave without a human.
func (c conditions) stalled(reason, msg string) {
	c.set(oauthv1.ConditionReady, metav1.ConditionFalse, reason, msg)
	c.set(oauthv1.ConditionStalled, metav1.ConditionTrue, reason, msg)
	meta.RemoveStatusCondition(c.list, oauthv1.ConditionReconciling)
}

// notReady marks the object not ready while it waits for something outside it (a provider,
// a Secret) — neither progressing by itself nor stalled.
func (c conditions) notReady(reason, msg string) {
	c.set(oauthv1.ConditionReady, metav1.ConditionFalse, reason, msg)
	meta.RemoveStatusCondition(c.list, oauthv1.ConditionReconciling)
	meta.RemoveStatusCondition(c.list, oauthv1.ConditionStalled)
}

// isReady reports whether Ready is True for the given generation.
func isReady(list []metav1.Condition, generation int64) bool {
	c := meta.FindStatusCondition(list, oauthv1.ConditionReady)
	return c != nil && c.Status == metav1.ConditionTrue && c.ObservedGeneration == generation
}

// statusTime is t as the API server stores it (whole seconds), so comparing a status in
// memory with the stored one does not see a change that the server would not.
func statusTime(t time.Time) metav1.Time {
	return metav1.NewTime(t.Truncate(time.Second))
}

// jitter spreads periodic work: d ± 10%.
func jitter(d time.Duration) time.Duration {
	if d <= 0 {
		return d
	}
	span := int64(d) / 5
	return d - time.Duration(span/2) + time.Duration(rand.Int64N(span+1))
}
