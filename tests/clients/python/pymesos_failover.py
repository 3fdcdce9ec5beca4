#!/usr/bin/env python3
"""A pymesos framework (v1 HTTP scheduler API) that lives through master
failovers.

  pymesos_failover.py MASTER [--tasks N] [--cmd 'shell cmd'] [--timeout S]
                      [--failover-timeout S] [--max-tasks-per-offer K]
                      [--name NAME] [--hold]

MASTER is zk://host:port,host:port/mesos (or host:port).

Flow: SUBSCRIBE (failover_timeout > 0, so that its tasks outlive a lost
connection) -> OFFERS -> LAUNCH N command tasks, at most K per offer (so
that they spread over the agents) -> UPDATE ... (every update acknowledged,
implicitly, by pymesos) -> each task TASK_FINISHED.  Meanwhile masters may
die: pymesos learns the new leader from ZooKeeper and subscribes again
under the same framework id; updates the agents resend are counted, so that
a TASK_FINISHED delivered twice shows.  Then RECONCILE (explicitly, every
task) -> one answer per task -> TEARDOWN.

With --hold, after reconciling it prints its summary (phase "holding") and
keeps subscribed, without tearing down, until SIGTERM; then it tears down
and prints its final summary.

Each summary is one line of JSON; exit 0 only when every task finished,
each TASK_FINISHED arrived exactly once, and teardown was accepted.
"""
import argparse
import json
import logging
import os
import signal
import sys
import threading
import time
import uuid

from pymesos import MesosSchedulerDriver, Scheduler

TERMINAL = {'TASK_FINISHED', 'TASK_FAILED', 'TASK_KILLED', 'TASK_LOST', 'TASK_ERROR',
            'TASK_DROPPED', 'TASK_GONE', 'TASK_GONE_BY_OPERATOR', 'TASK_UNKNOWN'}


def scalar(name, v):
    return dict(name=name, type='SCALAR', scalar=dict(value=v))


def res_value(offer, name):
    return sum(r.get('scalar', {}).get('value', 0.0) for r in offer.get('resources', [])
               if r.get('name') == name)


class FailoverScheduler(Scheduler):
    def __init__(self, args):
        self.args = args
        self.lock = threading.RLock()
        self.run_id = uuid.uuid4().hex[:6]
        self.to_launch = ['%s-%s-%d' % (args.name, self.run_id, i) for i in range(args.tasks)]
        self.launched = []
        self.agents = {}
        self.states = {}
        # Per task: how many TASK_FINISHED updates (not reconciliation
        # answers) arrived.
        self.finished_updates = {}
        self.updates = 0
        self.finished = threading.Event()
        self.reconciling = False
        self.reconciled = {}
        self.reconcile_done = threading.Event()
        self.framework_id = None
        self.subscribed = 0
        self.resubscribed = 0
        self.disconnected_count = 0
        self.masters = []
        self.registered_ev = threading.Event()
        self.errors = []

    def log(self, msg):
        sys.stderr.write('[pymesos %s] %s\n' % (time.strftime('%H:%M:%S'), msg))
        sys.stderr.flush()

    # --- callbacks
    def registered(self, driver, framework_id, master_info):
        with self.lock:
            self.framework_id = framework_id['value']
            self.subscribed += 1
            self.masters.append('%s:%s' % (master_info['hostname'], master_info['port']))
        self.log('subscribed as %s with %s' % (self.framework_id, self.masters[-1]))
        self.registered_ev.set()

    def reregistered(self, driver, master_info):
        with self.lock:
            self.subscribed += 1
            self.resubscribed += 1
            self.masters.append('%s:%s' % (master_info['hostname'], master_info['port']))
        self.log('subscribed again with %s' % self.masters[-1])
        self.registered_ev.set()

    def disconnected(self, driver):
        with self.lock:
            self.disconnected_count += 1
        self.log('disconnected')

    def resourceOffers(self, driver, offers):
        for offer in offers:
            with self.lock:
                cpus, mem = res_value(offer, 'cpus'), res_value(offer, 'mem')
                tasks = []
                while (self.to_launch and len(tasks) < self.args.max_tasks_per_offer
                       and cpus >= self.args.cpus and mem >= self.args.mem):
                    tid = self.to_launch.pop(0)
                    tasks.append(dict(
                        task_id=dict(value=tid), agent_id=offer['agent_id'], name=tid,
                        resources=[scalar('cpus', self.args.cpus),
                                   scalar('mem', self.args.mem)],
                        command=dict(value=self.args.cmd, shell=True)))
                    cpus -= self.args.cpus
                    mem -= self.args.mem
                    self.launched.append(tid)
                    self.agents[tid] = offer['agent_id']['value']
                    self.states[tid] = 'LAUNCHED'
            if tasks:
                self.log('offer %s: launching %d task(s)' % (offer['id']['value'], len(tasks)))
                driver.launchTasks(offer['id'], tasks)
            else:
                driver.declineOffer(offer['id'], dict(refuse_seconds=5))

    def statusUpdate(self, driver, update):
        tid = update['task_id']['value']
        state = update['state']
        self.log('update %s %s%s' % (tid, state, ' (%s)' % update['reason']
                                      if update.get('reason') else ''))
        with self.lock:
            if update.get('reason') == 'REASON_RECONCILIATION':
                if self.reconciling:
                    self.reconciled[tid] = state
                    if set(self.reconciled) >= set(self.launched):
                        self.reconcile_done.set()
                return
            self.updates += 1
            if tid not in self.states:
                self.errors.append('update for an unknown task %s' % tid)
                return
            if state == 'TASK_FINISHED':
                self.finished_updates[tid] = self.finished_updates.get(tid, 0) + 1
            if self.states[tid] in TERMINAL:
                # An update resent after the terminal one: the terminal
                # state stays.
                return
            self.states[tid] = state
            if state in TERMINAL and state != 'TASK_FINISHED':
                self.errors.append('%s %s %s' % (tid, state, update.get('message', '')))
            if (not self.to_launch and self.launched and
                    all(self.states.get(t) in TERMINAL for t in self.launched)):
                self.finished.set()

    def error(self, driver, message):
        with self.lock:
            self.errors.append('error: %s' % message)
        self.finished.set()
        self.reconcile_done.set()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('master')
    ap.add_argument('--tasks', type=int, default=4)
    ap.add_argument('--cmd', default='sleep 1')
    ap.add_argument('--timeout', type=float, default=120)
    ap.add_argument('--failover-timeout', type=float, default=3600)
    ap.add_argument('--max-tasks-per-offer', type=int, default=2)
    ap.add_argument('--cpus', type=float, default=0.1)
    ap.add_argument('--mem', type=float, default=32)
    ap.add_argument('--name', default='pymesos-failover')
    ap.add_argument('--user', default=os.environ.get('USER', 'root'))
    ap.add_argument('--hold', action='store_true')
    ap.add_argument('-v', '--verbose', action='store_true')
    args = ap.parse_args()
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.WARNING,
                        stream=sys.stderr,
                        format='%(asctime)s %(name)s %(levelname)s %(message)s')

    t0 = time.time()
    deadline = t0 + args.timeout
    sched = FailoverScheduler(args)
    summary = dict(client='pymesos', version='0.3.15', master=args.master, tasks=args.tasks)
    released = threading.Event()

    def fill(ok, step):
        with sched.lock:
            summary.update(
                ok=ok, step=step, framework_id=sched.framework_id,
                launched=len(sched.launched), task_ids=list(sched.launched),
                task_agents=dict(sched.agents), task_states=dict(sched.states),
                finished=sum(1 for t in sched.launched
                             if sched.states.get(t) == 'TASK_FINISHED'),
                finished_updates=dict(sched.finished_updates), updates=sched.updates,
                reconciled=dict(sched.reconciled), subscribed=sched.subscribed,
                resubscribed=sched.resubscribed, disconnected=sched.disconnected_count,
                masters=list(sched.masters), errors=sched.errors[:5],
                elapsed_s=round(time.time() - t0, 2))

    def emit(ok, step, code=None):
        fill(ok, step)
        print(json.dumps(summary, sort_keys=True), flush=True)
        os._exit(0 if ok else (code or 1))

    def watchdog():
        time.sleep(args.timeout + 15)
        summary['watchdog'] = True
        emit(False, 'hard-timeout', 3)
    threading.Thread(target=watchdog, daemon=True).start()

    if args.hold:
        signal.signal(signal.SIGTERM, lambda signum, frame: released.set())

    framework = dict(user=args.user, name=args.name, hostname='127.0.0.1',
                     failover_timeout=args.failover_timeout, roles=['*'],
                     capabilities=[dict(type='MULTI_ROLE')])
    driver = MesosSchedulerDriver(sched, framework, args.master, use_addict=False,
                                  timeout=max(5, args.timeout))
    try:
        driver.start()
    except Exception as e:  # noqa
        sched.errors.append('start: %r' % e)
        emit(False, 'start')

    def left():
        return max(0.1, deadline - time.time())

    if not sched.registered_ev.wait(left()):
        emit(False, 'subscribe')
    if not sched.finished.wait(left()) or sched.errors:
        driver.stop()
        emit(False, 'tasks')

    def exactly_once():
        return all(sched.finished_updates.get(t) == 1 for t in sched.launched)

    # Explicit reconciliation of every task; once acknowledged, finished
    # tasks are answered as unknown to the master.
    with sched.lock:
        sched.reconciling = True
    driver.reconcileTasks([dict(task_id=dict(value=t), agent_id=dict(value=sched.agents[t]))
                           for t in sched.launched])
    if not sched.reconcile_done.wait(min(left(), 30)) or sched.errors:
        driver.stop()
        emit(False, 'reconcile')

    if args.hold:
        fill(exactly_once(), 'holding')
        print(json.dumps(summary, sort_keys=True), flush=True)
        while not released.wait(0.2):
            if time.time() > deadline:
                driver.stop()
                emit(False, 'hold-timeout')

    # TEARDOWN is sent by pymesos from stop() (failover=False); it pops the
    # framework id only when the master accepted the call.
    driver.stop()
    driver.join()
    summary['teardown_accepted'] = driver.framework_id is None
    emit(bool(summary['teardown_accepted']) and exactly_once() and not sched.errors, 'done')


if __name__ == '__main__':
    main()
